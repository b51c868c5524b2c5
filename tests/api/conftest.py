"""Fixtures of the staff API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from core.clock import FrozenClock
from tests.fakes.nlu import FakeNlu
from tests.support.notices import load_demo_world, notice_settings
from tests.support.outage_api import Staff


@pytest.fixture
async def staff(sessionmaker, clock: FrozenClock, database_url: str) -> AsyncIterator[Staff]:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())
    app = create_app(notice_settings(database_url), clock=clock, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        staff = Staff(http)
        await staff.sign_in()
        yield staff
