"""NoticePlanner.has_audience, which creating and changing a planned outage ask before they accept a scope: the
same answer as resolving the whole audience (audiences(...).count() > 0), for every district, every feeder and
every account of the demo data, with and without the channels, and at the edges (a contact nobody can reach, a
subscriber who is also such a contact), without reading more than one subscriber."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.db import session_scope
from core.models import Area, Feeder, Identity, IdentityAccount, KeyAccountContact, UtilityAccount
from core.notices.audiences import AudienceRepository
from core.notices.planning import NoticePlanner
from core.outages.facts import Scope
from tests.support.notices import TOKEN, load_demo_world, notice_settings

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def world(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_world(sessionmaker, clock.now())


async def scopes(session: AsyncSession) -> list[Scope]:
    areas = list(await session.scalars(select(Area.code).order_by(Area.code)))
    feeders = list(await session.scalars(select(Feeder.code).order_by(Feeder.code)))
    accounts = list(await session.scalars(select(UtilityAccount.id).order_by(UtilityAccount.id)))
    return [
        *(Scope(area_codes=(a,)) for a in areas),
        *(Scope(feeder_codes=(f,)) for f in feeders),
        *(Scope(account_ids=(i,)) for i in accounts),
    ]


@pytest.mark.parametrize("channels", ["telegram and email", "none"])
async def test_the_same_answer_as_the_whole_audience_for_every_place_and_account(
    world: None, sessionmaker: Maker, clock: FrozenClock, database_url: str, channels: str
) -> None:
    if channels == "none":
        settings = notice_settings(database_url)
    else:
        settings = notice_settings(database_url, telegram_token=TOKEN, smtp_host="127.0.0.1")
    planner = NoticePlanner(clock, settings)
    async with sessionmaker() as session:
        answers = {
            scope: (await planner.has_audience(session, scope), (await planner.audiences(session, scope)).count() > 0)
            for scope in await scopes(session)
        }
    assert all(quick == whole for quick, whole in answers.values()), {s: a for s, a in answers.items() if a[0] != a[1]}
    assert {whole for _, whole in answers.values()} == {True, False}  # both answers among the demo's scopes


async def test_a_subscriber_who_is_a_contact_nobody_can_reach_is_nobody(
    world: None, sessionmaker: Maker, clock: FrozenClock, database_url: str
) -> None:
    planner = NoticePlanner(clock, notice_settings(database_url, telegram_token=TOKEN))
    async with session_scope(sessionmaker) as session:
        contact = await session.scalar(
            select(KeyAccountContact).where(KeyAccountContact.telegram_chat_id.is_not(None)).limit(1)
        )
        assert contact is not None
        scope = Scope(account_ids=(contact.account_id,))
        # the account's other contacts gone, this one blocked the bot and has no email or phone …
        await session.execute(
            update(KeyAccountContact)
            .where(KeyAccountContact.account_id == contact.account_id, KeyAccountContact.id != contact.id)
            .values(telegram_chat_id=None, email=None, phone=None)
        )
        contact.telegram_blocked_at, contact.email, contact.phone = datetime(2026, 11, 1, tzinfo=UTC), None, None
        # … and bound the account, subscribed, from that same chat
        identity = Identity(
            channel="telegram",
            external_id=f"tg:{contact.telegram_chat_id}",
            telegram_chat_id=contact.telegram_chat_id,
            language="zh",
            subscribed_notices=True,
            created_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.add(identity)
        await session.flush()
        session.add(
            IdentityAccount(identity_id=identity.id, account_id=contact.account_id, verified_at=identity.created_at)
        )
    async with sessionmaker() as session:
        assert await AudienceRepository(session).any_subscriber(scope)  # there is a subscriber …
        assert (await planner.audiences(session, scope)).count() == 0  # … told as the contact: nobody
        assert not await planner.has_audience(session, scope)


async def test_one_subscriber_is_looked_for_not_all(
    world: None, sessionmaker: Maker, engine: AsyncEngine, clock: FrozenClock, database_url: str
) -> None:
    planner = NoticePlanner(clock, notice_settings(database_url, telegram_token=TOKEN))
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    async with sessionmaker() as session:
        everyone = Scope(area_codes=tuple(await session.scalars(select(Area.code))))
        residents = (await planner.audiences(session, everyone)).groups["residential"]
        assert len(residents) > 1
        await session.execute(update(KeyAccountContact).values(telegram_chat_id=None, email=None, phone=None))
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            assert await planner.has_audience(session, everyone)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        await session.rollback()
    _contacts, subscriber = statements  # the contacts (none reachable), then one subscriber
    assert "LIMIT" in subscriber.upper()
