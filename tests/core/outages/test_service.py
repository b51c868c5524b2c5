"""OutageService directly (no HTTP): what it refuses (naming the field), the state changes of create, publish,
update, cancel and complete, the scope rows it writes, and the audit row of every action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.models import AuditLog, NoticeStage, Outage, OutageAccount, OutageArea, OutageFeeder, UtilityAccount
from core.outages.service import MAX_CONTACT, MAX_REASON, OutageChanges, OutageInput, OutageService
from tests.support.dialogue import demo_account
from tests.support.notices import draft, load_demo_world, notice_settings, staff_id, stages
from tests.support.services import core_services

Call = Callable[[AsyncSession], Awaitable[Any]]


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await load_demo_world(sessionmaker, clock.now())


@pytest.fixture
def settings(database_url: str) -> Settings:
    return notice_settings(database_url)


@pytest.fixture
def outages(clock: FrozenClock, settings: Settings) -> OutageService:
    return core_services(clock, settings).outages


@pytest.fixture
async def admin(world: None, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await staff_id(session, "admin")


async def run(sessionmaker: async_sessionmaker[AsyncSession], call: Call) -> Any:
    """One unit of work, as a route or a worker task opens it."""
    async with session_scope(sessionmaker) as session:
        return await call(session)


async def refused(sessionmaker: async_sessionmaker[AsyncSession], call: Call, error: type[DomainError]) -> DomainError:
    with pytest.raises(error) as caught:
        await run(sessionmaker, call)
    return caught.value


async def create(
    sessionmaker: async_sessionmaker[AsyncSession], outages: OutageService, data: OutageInput, actor: int | None
) -> Outage:
    outage: Outage = await run(sessionmaker, lambda s: outages.create(s, data, actor_id=actor))
    return outage


async def audit_rows(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int | None = None) -> list[AuditLog]:
    async with sessionmaker() as session:
        query = select(AuditLog).where(AuditLog.target_type == "outage")
        if outage_id is not None:
            query = query.where(AuditLog.target_id == str(outage_id))
        return list(await session.scalars(query.order_by(AuditLog.id)))


def detail(entry: AuditLog) -> Any:
    """An audit row's JSON detail, as the tests read it."""
    return entry.detail


async def stored(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int) -> Outage:
    async with sessionmaker() as session:
        outage = await session.get(Outage, outage_id)
        assert outage is not None
        return outage


async def scope_rows(
    sessionmaker: async_sessionmaker[AsyncSession], outage_id: int
) -> tuple[set[str], set[str], set[int]]:
    async with sessionmaker() as session:
        areas = await session.scalars(select(OutageArea.area_code).where(OutageArea.outage_id == outage_id))
        feeders = await session.scalars(select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == outage_id))
        accounts = await session.scalars(select(OutageAccount.account_id).where(OutageAccount.outage_id == outage_id))
        return set(areas), set(feeders), set(accounts)


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def key_account(sessionmaker: async_sessionmaker[AsyncSession], feeder: str) -> UtilityAccount:
    """The demo's key account on `feeder` (their numbers start with 3390)."""
    async with sessionmaker() as session:
        account = await session.scalar(
            select(UtilityAccount).where(
                UtilityAccount.feeder_code == feeder, UtilityAccount.account_number.like("3390%")
            )
        )
        assert account is not None
        return account


# ------------------------------------------------------------------------------------------ create


async def test_create_writes_a_draft_its_scope_rows_and_an_audit_row(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(days=10)
    water = await key_account(sessionmaker, "XH-F02")
    data = draft(
        start,
        areas=("XH",),
        feeders=("GS-F01", "GS-F01"),
        accounts=(water.account_number,),
        reason="  10kV线路检修  ",
    )
    outage = await create(sessionmaker, outages, data, admin)

    row = await stored(sessionmaker, outage.id)
    assert row.status == "draft" and row.kind == "planned"
    assert row.reason == "10kV线路检修"  # stripped
    assert row.contact == "95598"
    assert row.created_by_id == admin and row.published_at is None
    assert await scope_rows(sessionmaker, outage.id) == ({"XH"}, {"GS-F01"}, {water.id})
    assert await stages(sessionmaker, outage.id) == []  # a draft has no notice plan

    [entry] = await audit_rows(sessionmaker, outage.id)
    assert (entry.action, entry.staff_id, entry.target_id) == ("outage.create", admin, str(outage.id))
    assert detail(entry)["areas"] == ["XH"] and detail(entry)["feeders"] == ["GS-F01"]
    assert detail(entry)["accounts"] == [water.account_number]
    assert detail(entry)["starts_at"] == start.isoformat()


async def test_create_without_a_contact_uses_the_service_hotline(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, database_url: str
) -> None:
    outages = core_services(clock, notice_settings(database_url, service_hotline="0571-12345")).outages
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=2), contact=""), None)
    assert (await stored(sessionmaker, outage.id)).contact == "0571-12345"
    [entry] = await audit_rows(sessionmaker, outage.id)
    assert entry.staff_id is None  # no actor (a CLI or a job)


async def test_the_longest_reason_and_contact_are_accepted(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    data = draft(clock.now() + timedelta(days=2), reason="检" * MAX_REASON, contact="9" * MAX_CONTACT)
    outage = await create(sessionmaker, outages, data, None)
    row = await stored(sessionmaker, outage.id)
    assert len(row.reason) == MAX_REASON and len(row.contact) == MAX_CONTACT


CREATE_REFUSALS: dict[str, tuple[str, Callable[[datetime, str], OutageInput]]] = {
    "unplanned without an estimate": ("estimated_restoration_at", lambda t, _: draft(t, kind="unplanned")),
    "end before start": ("ends_at", lambda t, _: draft(t, ends_at=t - timedelta(hours=1))),
    "end at the start": ("ends_at", lambda t, _: draft(t, ends_at=t)),
    "start in the past": ("starts_at", lambda t, _: draft(t - timedelta(days=2))),
    "start now": ("starts_at", lambda t, _: draft(t - timedelta(days=1, minutes=0))),
    "start without offset": ("starts_at", lambda t, _: draft(t.replace(tzinfo=None), ends_at=t + timedelta(hours=4))),
    "unknown area": ("areas", lambda t, _: draft(t, areas=("XH", "ZZ"))),
    "unknown feeder": ("feeders", lambda t, _: draft(t, areas=(), feeders=("XH-F01", "XH-F99"))),
    "unknown account": ("accounts", lambda t, _: draft(t, areas=(), accounts=("0000000000",))),
    "empty scope": ("areas", lambda t, _: draft(t, areas=())),
    "empty audience": ("accounts", lambda t, spare: draft(t, areas=(), accounts=(spare,))),
    "no reason": ("reason", lambda t, _: draft(t, reason="   ")),
    "reason too long": ("reason", lambda t, _: draft(t, reason="x" * (MAX_REASON + 1))),
    "contact too long": ("contact", lambda t, _: draft(t, contact="1" * (MAX_CONTACT + 1))),
}


@pytest.mark.parametrize("case", list(CREATE_REFUSALS))
async def test_create_refuses_naming_the_field_and_writes_nothing(
    case: str, world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    field, make = CREATE_REFUSALS[case]
    spare = await demo_account(sessionmaker)  # residential, nobody bound to it: nobody to notify
    tomorrow = clock.now() + timedelta(days=1)
    data = make(tomorrow, spare.number)
    error = await refused(sessionmaker, lambda s: outages.create(s, data, actor_id=None), InvalidInput)
    assert error.field == field, error.message
    assert await count(sessionmaker, Outage) == 0
    assert await audit_rows(sessionmaker) == []


async def test_an_unknown_name_is_named_in_the_message(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    data = draft(clock.now() + timedelta(days=1), areas=(), feeders=("XH-F99", "XH-F01"))
    error = await refused(sessionmaker, lambda s: outages.create(s, data, actor_id=None), InvalidInput)
    assert "XH-F99" in error.message and "XH-F01" not in error.message


# ----------------------------------------------------------------------------------------- publish


async def test_publish_makes_the_plan_and_writes_its_audit_row(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=16)), admin)
    clock.advance(timedelta(minutes=5))
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=admin))

    row = await stored(sessionmaker, outage.id)
    assert row.status == "published"
    assert row.published_at == clock.now() and row.updated_at == clock.now()
    plan = await stages(sessionmaker, outage.id)
    assert {s.stage for s in plan} == {"15d", "7d", "30m"}

    create_entry, publish_entry = await audit_rows(sessionmaker, outage.id)
    assert create_entry.action == "outage.create"
    assert (publish_entry.action, publish_entry.staff_id) == ("outage.publish", admin)
    assert publish_entry.at == clock.now()
    listed = detail(publish_entry)["stages"]
    assert sorted((s["stage"], s["audience"]) for s in listed) == sorted((s.stage, s.audience) for s in plan)
    assert sum(s["recipients"] for s in listed) == sum(s.recipients for s in plan) > 0


async def test_publish_of_a_non_draft_is_a_conflict(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    published = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=16)), None)
    await run(sessionmaker, lambda s: outages.publish(s, published.id, actor_id=None))
    cancelled = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=16)), None)
    await run(sessionmaker, lambda s: outages.cancel(s, cancelled.id, actor_id=None))
    plan = len(await stages(sessionmaker, published.id))
    entries = len(await audit_rows(sessionmaker))

    for outage_id in (published.id, cancelled.id):
        await refused(sessionmaker, partial(outages.publish, outage_id=outage_id, actor_id=None), Conflict)
    assert len(await stages(sessionmaker, published.id)) == plan  # no second plan
    assert len(await audit_rows(sessionmaker)) == entries
    assert (await stored(sessionmaker, cancelled.id)).status == "cancelled"


async def test_a_draft_whose_start_has_passed_cannot_be_published(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(hours=2)), None)
    clock.advance(timedelta(hours=2))
    error = await refused(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=None), InvalidInput)
    assert error.field == "starts_at"
    assert (await stored(sessionmaker, outage.id)).status == "draft"
    assert await stages(sessionmaker, outage.id) == []


@pytest.mark.parametrize("action", ["publish", "cancel", "complete", "update"])
async def test_an_unknown_outage_is_not_found(
    action: str, world: None, sessionmaker: async_sessionmaker[AsyncSession], outages: OutageService
) -> None:
    calls: dict[str, Call] = {
        "publish": lambda s: outages.publish(s, 999_999, actor_id=None),
        "cancel": lambda s: outages.cancel(s, 999_999, actor_id=None),
        "complete": lambda s: outages.complete(s, 999_999, actor_id=None),
        "update": lambda s: outages.update(s, 999_999, OutageChanges(reason="x"), actor_id=None),
    }
    await refused(sessionmaker, calls[action], NotFound)
    assert await audit_rows(sessionmaker) == []


# ------------------------------------------------------------------------------------------ update


async def test_update_of_a_draft_changes_its_fields_and_scope_rows(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(days=10)
    outage = await create(sessionmaker, outages, draft(start, areas=("XH",)), admin)
    water = await key_account(sessionmaker, "XH-F02")
    new_start, new_end = start + timedelta(days=1), start + timedelta(days=1, hours=3)
    clock.advance(timedelta(minutes=1))
    changes = OutageChanges(
        starts_at=new_start,
        ends_at=new_end,
        reason="开关柜更换",
        contact="0571-88888888",
        areas=(),
        feeders=("GS-F01", "GS-F02"),
        accounts=(water.account_number,),
    )
    await run(sessionmaker, lambda s: outages.update(s, outage.id, changes, actor_id=admin))

    row = await stored(sessionmaker, outage.id)
    assert (row.starts_at, row.ends_at) == (new_start, new_end)
    assert (row.reason, row.contact, row.status) == ("开关柜更换", "0571-88888888", "draft")
    assert row.updated_at == clock.now()
    assert await scope_rows(sessionmaker, outage.id) == (set(), {"GS-F01", "GS-F02"}, {water.id})
    assert await stages(sessionmaker, outage.id) == []  # still a draft: nothing planned

    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert (entry.action, entry.staff_id, entry.target_id) == ("outage.update", admin, str(outage.id))
    changed = detail(entry)["changes"]
    assert set(changed) == {"starts_at", "ends_at", "reason", "contact", "scope"}
    assert changed["reason"] == {"from": "10kV线路检修", "to": "开关柜更换"}
    assert changed["starts_at"]["to"] == new_start.isoformat()
    assert changed["scope"]["from"] == {"areas": ["XH"], "feeders": []}
    assert changed["scope"]["to"] == {"areas": [], "feeders": ["GS-F01", "GS-F02"], "accounts": [water.account_number]}
    assert "stages" not in entry.detail


async def test_update_keeps_the_scope_rows_it_is_not_told_about(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    water = await key_account(sessionmaker, "XH-F02")
    data = draft(clock.now() + timedelta(days=10), areas=("XH",), feeders=("GS-F01",), accounts=(water.account_number,))
    outage = await create(sessionmaker, outages, data, None)
    await run(sessionmaker, lambda s: outages.update(s, outage.id, OutageChanges(feeders=("GS-F02",)), actor_id=None))
    assert await scope_rows(sessionmaker, outage.id) == ({"XH"}, {"GS-F02"}, {water.id})
    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert set(detail(entry)["changes"]) == {"scope"}


async def test_an_update_that_changes_nothing_writes_nothing(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(days=10)
    outage = await create(sessionmaker, outages, draft(start, feeders=("GS-F01",)), None)
    same = OutageChanges(
        starts_at=start,
        ends_at=start + timedelta(hours=6),
        reason="10kV线路检修",
        contact="95598",
        areas=("XH",),
        feeders=("GS-F01",),
        accounts=(),
    )
    clock.advance(timedelta(minutes=1))
    for changes in (OutageChanges(), same, OutageChanges(reason=" 10kV线路检修 ")):
        await run(sessionmaker, partial(outages.update, outage_id=outage.id, changes=changes, actor_id=None))
    row = await stored(sessionmaker, outage.id)
    assert row.updated_at is None
    assert [e.action for e in await audit_rows(sessionmaker, outage.id)] == ["outage.create"]
    assert await scope_rows(sessionmaker, outage.id) == ({"XH"}, {"GS-F01"}, set())


UPDATE_REFUSALS: dict[str, tuple[str, Callable[[datetime], OutageChanges]]] = {
    "end before start": ("ends_at", lambda t: OutageChanges(ends_at=t - timedelta(minutes=1))),
    "start after the end": ("ends_at", lambda t: OutageChanges(starts_at=t + timedelta(hours=7))),
    "start moved into the past": ("starts_at", lambda t: OutageChanges(starts_at=t - timedelta(days=20))),
    "empty reason": ("reason", lambda t: OutageChanges(reason=" ")),
    "reason too long": ("reason", lambda t: OutageChanges(reason="x" * (MAX_REASON + 1))),
    "empty contact": ("contact", lambda t: OutageChanges(contact="")),
    "contact too long": ("contact", lambda t: OutageChanges(contact="1" * (MAX_CONTACT + 1))),
    "unknown area": ("areas", lambda t: OutageChanges(areas=("ZZ",))),
    "unknown feeder": ("feeders", lambda t: OutageChanges(feeders=("XH-F99",))),
    "unknown account": ("accounts", lambda t: OutageChanges(accounts=("0000000000",))),
    "empty scope": ("areas", lambda t: OutageChanges(areas=())),
}


@pytest.mark.parametrize("case", list(UPDATE_REFUSALS))
async def test_update_refuses_naming_the_field_and_leaves_the_outage_as_it_was(
    case: str, world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    field, make = UPDATE_REFUSALS[case]
    start = clock.now() + timedelta(days=10)
    outage = await create(sessionmaker, outages, draft(start), None)
    changes = make(start)
    error = await refused(sessionmaker, lambda s: outages.update(s, outage.id, changes, actor_id=None), InvalidInput)
    assert error.field == field, error.message
    row = await stored(sessionmaker, outage.id)
    assert (row.starts_at, row.reason, row.contact, row.updated_at) == (start, "10kV线路检修", "95598", None)
    assert await scope_rows(sessionmaker, outage.id) == ({"XH"}, set(), set())
    assert [e.action for e in await audit_rows(sessionmaker, outage.id)] == ["outage.create"]


async def test_update_to_a_scope_nobody_hears_of_is_refused(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    spare = await demo_account(sessionmaker)
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=10)), None)
    changes = OutageChanges(areas=(), accounts=(spare.number,))
    error = await refused(sessionmaker, lambda s: outages.update(s, outage.id, changes, actor_id=None), InvalidInput)
    assert error.field == "accounts"
    assert await scope_rows(sessionmaker, outage.id) == ({"XH"}, set(), set())


async def test_update_of_a_published_outage_replans_and_says_so_in_the_audit_row(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(days=16)
    outage = await create(sessionmaker, outages, draft(start), None)
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=None))
    later = start + timedelta(days=2)
    changes = OutageChanges(starts_at=later, ends_at=later + timedelta(hours=6))
    await run(sessionmaker, lambda s: outages.update(s, outage.id, changes, actor_id=None))

    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert entry.action == "outage.update"
    assert set(detail(entry)["changes"]) == {"starts_at", "ends_at"}
    assert "stages" in entry.detail
    planned = [s for s in await stages(sessionmaker, outage.id) if s.status == "planned"]
    assert {s.due_at for s in planned if s.stage == "30m"} == {later - timedelta(minutes=30)}


@pytest.mark.parametrize("final", ["cancelled", "completed"])
async def test_a_cancelled_or_completed_outage_cannot_be_changed_or_cancelled(
    final: str, world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(hours=2)), None)
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=None))
    if final == "cancelled":
        await run(sessionmaker, lambda s: outages.cancel(s, outage.id, actor_id=None))
    else:
        clock.advance(timedelta(hours=3))
        await run(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=None))
    entries = len(await audit_rows(sessionmaker))

    await refused(
        sessionmaker, lambda s: outages.update(s, outage.id, OutageChanges(reason="x"), actor_id=None), Conflict
    )
    await refused(sessionmaker, lambda s: outages.cancel(s, outage.id, actor_id=None), Conflict)
    await refused(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=None), Conflict)
    row = await stored(sessionmaker, outage.id)
    assert row.status == final and row.reason == "10kV线路检修"
    assert len(await audit_rows(sessionmaker)) == entries


# ----------------------------------------------------------------------------------- cancel, complete


async def test_cancel_of_a_draft_plans_nothing_and_is_audited(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=3)), admin)
    clock.advance(timedelta(minutes=3))
    await run(sessionmaker, lambda s: outages.cancel(s, outage.id, actor_id=admin))
    row = await stored(sessionmaker, outage.id)
    assert row.status == "cancelled" and row.cancelled_at == clock.now()
    assert await stages(sessionmaker, outage.id) == []
    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert (entry.action, entry.staff_id, entry.target_id) == ("outage.cancel", admin, str(outage.id))
    assert entry.detail == {"stages": []}


async def test_cancel_of_a_published_outage_stops_its_plan(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    outage = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=16)), None)
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=None))
    await run(sessionmaker, lambda s: outages.cancel(s, outage.id, actor_id=None))
    assert (await stored(sessionmaker, outage.id)).status == "cancelled"
    plan = await stages(sessionmaker, outage.id)
    assert {s.status for s in plan if s.stage in ("15d", "7d", "30m")} == {"cancelled"}
    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert entry.action == "outage.cancel"
    # nobody had been told anything yet: no cancellation notice to send
    assert entry.detail == {"stages": []} and not [s for s in plan if s.stage == "cancel"]


async def test_complete_before_the_start_is_a_conflict(
    world: None, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(hours=2)
    outage = await create(sessionmaker, outages, draft(start), None)
    await refused(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=None), Conflict)  # a draft
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=None))
    clock.set(start - timedelta(seconds=1))
    await refused(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=None), Conflict)
    row = await stored(sessionmaker, outage.id)
    assert row.status == "published" and row.completed_at is None
    assert [e.action for e in await audit_rows(sessionmaker, outage.id)] == ["outage.create", "outage.publish"]


async def test_complete_after_the_start_sends_the_restoration_and_is_audited(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(hours=2)
    outage = await create(sessionmaker, outages, draft(start), admin)
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=admin))
    clock.set(start + timedelta(hours=1))
    await run(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=admin))

    row = await stored(sessionmaker, outage.id)
    assert row.status == "completed" and row.completed_at == clock.now()
    plan = await stages(sessionmaker, outage.id)
    assert {s.status for s in plan if s.stage != "restored"} <= {"cancelled", "resolved"}
    restored = [s for s in plan if s.stage == "restored"]
    assert restored and sum(s.recipients for s in restored) > 0
    entry = (await audit_rows(sessionmaker, outage.id))[-1]
    assert (entry.action, entry.staff_id, entry.target_id) == ("outage.complete", admin, str(outage.id))
    assert {s["stage"] for s in detail(entry)["stages"]} == {"restored"}


async def test_every_action_writes_one_audit_row_in_order(
    admin: int, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService
) -> None:
    start = clock.now() + timedelta(days=5)
    outage = await create(sessionmaker, outages, draft(start), admin)
    await run(sessionmaker, lambda s: outages.update(s, outage.id, OutageChanges(reason="变压器更换"), actor_id=admin))
    await run(sessionmaker, lambda s: outages.publish(s, outage.id, actor_id=admin))
    await run(sessionmaker, lambda s: outages.update(s, outage.id, OutageChanges(contact="0571-1"), actor_id=admin))
    clock.set(start + timedelta(minutes=1))
    await run(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=admin))
    other = await create(sessionmaker, outages, draft(clock.now() + timedelta(days=1)), admin)
    await run(sessionmaker, lambda s: outages.cancel(s, other.id, actor_id=admin))

    entries = await audit_rows(sessionmaker)
    assert [(e.action, e.target_id) for e in entries] == [
        ("outage.create", str(outage.id)),
        ("outage.update", str(outage.id)),
        ("outage.publish", str(outage.id)),
        ("outage.update", str(outage.id)),
        ("outage.complete", str(outage.id)),
        ("outage.create", str(other.id)),
        ("outage.cancel", str(other.id)),
    ]
    assert {e.staff_id for e in entries} == {admin}
    assert {e.target_type for e in entries} == {"outage"}
    assert await count(sessionmaker, NoticeStage) > 0
