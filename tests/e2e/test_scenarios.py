"""The conversation scenarios of tests/scenarios/*.yml, each played through the web chat API with the REAL
Rasa server (the trained model) on the demo data: what the customer sends, the intent recorded, what the
replies must (and must not) say. The format is in tests/support/scenarios.py."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from nlu.client import RasaNluClient
from tests.support.dialogue import demo_account, load_demo_data
from tests.support.scenarios import Scenario, load_all, play
from tests.support.staff import api_client

SCENARIOS = load_all()

pytestmark = pytest.mark.rasa


def test_there_are_enough_scenarios_in_both_languages() -> None:
    for language in ("zh", "en"):
        assert sum(s.language == language for s in SCENARIOS) >= 20, language


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_scenario(
    scenario: Scenario,
    settings: Settings,
    clock: FrozenClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    rasa_url: str,
) -> None:
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, feeder=scenario.feeder)
    nlu = RasaNluClient(rasa_url, timeout=10.0)
    try:
        async with api_client(settings, clock, nlu=nlu) as http:
            await play(http, sessionmaker, scenario, account)
    finally:
        await nlu.aclose()
