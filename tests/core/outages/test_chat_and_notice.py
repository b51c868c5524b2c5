"""One outage view: the notice a subscriber receives and the chat's answer to the same subscriber name the
same places (areas, feeders) and the same times, whether the outage was entered by area, by feeder or by
account (core.outages.facts is the one rule for both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.dialogue import Incoming, KeyValueStateStore, MemoryStateBackend, build_conversations
from core.models import Customer, Identity, IdentityAccount, UtilityAccount
from core.models.enums import Segment
from core.notices.dispatcher import Dispatcher
from core.outages.repository import OutageRepository
from gridtalk.worker import build_channels
from tests.fakes.nlu import FakeNlu
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import channel_settings, draft, load_demo_world, xh_identities
from tests.support.services import core_services

ASK = {"zh": "有计划停电吗", "en": "any planned outages coming"}


async def resident(session: AsyncSession) -> tuple[Identity, UtilityAccount]:
    """A subscribed Telegram identity bound to a residential account in Xihu."""
    for identity in await xh_identities(session):
        account = await session.scalar(
            select(UtilityAccount)
            .join(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .where(IdentityAccount.identity_id == identity.id, Customer.segment == Segment.RESIDENTIAL)
        )
        if account is not None and identity.subscribed_notices and identity.telegram_chat_id is not None:
            return identity, account
    raise AssertionError("the demo data has a subscribed resident in Xihu")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as server:
        yield server


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("scoped_by", ["area", "feeder", "account"])
async def test_the_chat_and_the_notice_name_the_same_places_and_times(
    scoped_by: str, language: str, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())
    settings: Settings = channel_settings(database_url, api, None)
    services = core_services(clock, settings)
    async with session_scope(sessionmaker) as session:
        identity, account = await resident(session)
        identity.language = language
        scope = {
            "area": {"areas": (account.area_code,)},
            "feeder": {"areas": (), "feeders": (account.feeder_code,)},
            "account": {"areas": (), "accounts": (account.account_number,)},
        }[scoped_by]
        outage = await services.outages.create(session, draft(clock.now() + timedelta(days=3), **scope), actor_id=None)
        await services.outages.publish(session, outage.id, actor_id=None)
        chat_id, identity_id = identity.telegram_chat_id, identity.id
    async with sessionmaker() as session:
        [facts] = await OutageRepository(session).facts([await OutageRepository(session).get_full(outage.id)])

    dispatcher = Dispatcher(sessionmaker, clock, settings, build_channels(settings), services.notice_renderer)
    try:
        await dispatcher.run_once()  # the late initial notice goes out now
    finally:
        await dispatcher.aclose()
    [notice] = [call.text for call in api.sent() if call.chat_id == chat_id]

    conversations = build_conversations(
        settings, clock, FakeNlu({ASK[language]: "planned_outage_query"}), notices=services.notice_responder()
    )
    store = KeyValueStateStore(MemoryStateBackend(clock), "test", 1800)
    async with session_scope(sessionmaker) as session:
        who = await session.get(Identity, identity_id)
        assert who is not None
        result = await conversations.handle(session, who, Incoming(text=ASK[language]), store)
    answer = "\n".join(reply.text for reply in result.replies)

    areas = [a.named(language) for a in facts.areas]
    feeders = [f.name for f in facts.feeders]
    assert areas and feeders  # every scope names its district and its feeders
    if scoped_by != "area":
        assert account.feeder_code in {f.code for f in facts.feeders}
    start = facts.starts_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    end = facts.ends_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    for said in (notice, answer):
        for name in [*areas, *feeders, start, end]:
            assert name in said, f"{name!r} missing from: {said}"
