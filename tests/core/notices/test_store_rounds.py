"""The notice plan written set-based: OutboxRepository.store_rounds makes the rows store() would make, once per
round; the audience query keeps one row per identity, with its first account and that account's segment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.db import session_scope
from core.models import Customer, IdentityAccount, NoticeDelivery, UtilityAccount
from core.models.enums import Stage
from core.notices.audiences import AudienceRepository
from core.notices.outbox import Subject
from core.notices.repository import OutboxRepository
from core.outages.facts import Scope
from tests.support.notices import draft, load_demo_world, notice_settings, xh_identities
from tests.support.services import core_services

SKIP = {"id", "revision", "created_at", "updated_at"}


@pytest.fixture
async def world(sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())


async def an_outage(sessionmaker, clock: FrozenClock, database_url: str) -> tuple[int, Any]:  # type: ignore[no-untyped-def]
    services = core_services(clock, notice_settings(database_url))
    async with session_scope(sessionmaker) as session:
        outage = await services.outages.create(session, draft(clock.now() + timedelta(days=16)), actor_id=None)
        return outage.id, services


def columns(row: NoticeDelivery) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in NoticeDelivery.__table__.columns if c.key not in SKIP}


async def test_rounds_make_the_rows_store_makes(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    outage_id, services = await an_outage(sessionmaker, clock, database_url)
    now = clock.now()
    due = {Stage.FIRST: now + timedelta(days=1), Stage.SECOND: now + timedelta(days=9)}
    async with session_scope(sessionmaker) as session:
        groups = (await services.planner.audiences(session, Scope(area_codes=("XH",)))).groups
        people = [person for group in groups.values() for person in group]
        assert len(people) > 3
        drafts = [
            d
            for stage, at in due.items()
            for person in people
            for d in person.drafts(Subject.outage(outage_id), stage, due_at=at, release_at=now, revision=1)
        ]
        await OutboxRepository(session).store(drafts, now)
        template = [
            d.row(now)
            for person in people
            for d in person.drafts(Subject.outage(outage_id), Stage.FIRST, due_at=now, release_at=None, revision=2)
        ]
        rounds = [
            {"stage": stage, "revision": 2, "due_at": at, "deadline_at": None, "next_attempt_at": now}
            for stage, at in due.items()
        ]
        await OutboxRepository(session).store_rounds(template + template[:2], rounds, fresh=True)  # twice: once

    async with sessionmaker() as session:
        stored = list(await session.scalars(select(NoticeDelivery).where(NoticeDelivery.outage_id == outage_id)))
    one = sorted(
        (columns(r) for r in stored if r.revision == 1), key=lambda c: (c["stage"], c["contact_key"], c["channel"])
    )
    two = sorted(
        (columns(r) for r in stored if r.revision == 2), key=lambda c: (c["stage"], c["contact_key"], c["channel"])
    )
    assert len(one) == len(drafts) and one == two


async def test_rows_that_exist_are_left_as_they_are(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    outage_id, services = await an_outage(sessionmaker, clock, database_url)
    now = clock.now()
    rounds = [{"stage": Stage.FINAL, "due_at": now, "next_attempt_at": None}]
    async with session_scope(sessionmaker) as session:
        groups = (await services.planner.audiences(session, Scope(area_codes=("XH",)))).groups
        people = [person for group in groups.values() for person in group]
        template = [
            d.row(now)
            for p in people
            for d in p.drafts(Subject.outage(outage_id), Stage.FINAL, due_at=now, release_at=None)
        ]
        await OutboxRepository(session).store_rounds(template, rounds)
    async with session_scope(sessionmaker) as session:
        changed = [{**row, "address": "elsewhere"} for row in template]
        await OutboxRepository(session).store_rounds(changed, rounds)  # a second writer of the same round
    async with sessionmaker() as session:
        stored = list(await session.scalars(select(NoticeDelivery).where(NoticeDelivery.outage_id == outage_id)))
    assert len(stored) == len(template)
    assert "elsewhere" not in {r.address for r in stored}


async def test_an_identity_bound_twice_is_one_recipient_with_its_first_account(
    world: None, sessionmaker, clock: FrozenClock
) -> None:
    async with session_scope(sessionmaker) as session:
        identity = (await xh_identities(session))[0]
        bound = set(
            await session.scalars(select(IdentityAccount.account_id).where(IdentityAccount.identity_id == identity.id))
        )
        other = await session.scalar(
            select(UtilityAccount.id)
            .where(UtilityAccount.area_code == "XH", UtilityAccount.id.not_in(bound))
            .order_by(UtilityAccount.id)
        )
        assert other is not None
        session.add(
            IdentityAccount(identity_id=identity.id, account_id=other, verified_at=clock.now(), is_current=True)
        )
    async with sessionmaker() as session:
        found = await AudienceRepository(session).subscribed_identities(Scope(area_codes=("XH",)))
        mine = [row for row in found if row.id == identity.id]
        first = await session.scalar(
            select(UtilityAccount.id)
            .join(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .where(IdentityAccount.identity_id == identity.id, UtilityAccount.area_code == "XH")
            .order_by(UtilityAccount.id)
        )
        segment = await session.scalar(
            select(Customer.segment)
            .join(UtilityAccount, UtilityAccount.customer_id == Customer.id)
            .where(UtilityAccount.id == first)
        )
    assert len(mine) == 1
    assert (mine[0].account_id, mine[0].segment) == (first, segment)
    assert len({row.id for row in found}) == len(found)
