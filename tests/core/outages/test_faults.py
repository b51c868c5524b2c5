"""Fault outages (unplanned), as staff record them: a draft with its estimate, published ("we know" at once to
the people of its scope and nobody else), the estimate moved (every estimate kept; an update to those told
when it moves by more than the setting), restored on some feeders then all (the restoration notice with
"still no power at my place", whose press opens one ticket tied to the outage and the account)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import Conflict, InvalidInput
from core.models import (
    AuditLog,
    FaultTicket,
    FeederAlert,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    NoticeDelivery,
    Outage,
    OutageFeeder,
    UtilityAccount,
)
from core.models.enums import OutageKind
from core.notices.render import NoticeRenderer
from core.notices.send_rules import waits_for_quiet_hours
from core.outages.planner import PlannerRules
from core.outages.queries import OutageQueries
from core.outages.service import OutageChanges, OutageInput, OutageService
from core.services import CoreServices
from core.templating import Renderer
from tests.support.notices import load_demo_world, local, notice_settings, rows, staff_id
from tests.support.services import core_services

Call = Callable[[AsyncSession], Awaitable[Any]]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return notice_settings(database_url)


@pytest.fixture
def core(clock: FrozenClock, settings: Settings) -> CoreServices:
    return core_services(clock, settings)


@pytest.fixture
def outages(core: CoreServices) -> OutageService:
    return core.outages


@pytest.fixture
async def admin(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> int:
    await load_demo_world(sessionmaker, clock.now())
    async with sessionmaker() as session:
        return await staff_id(session, "admin")


async def run(sessionmaker: async_sessionmaker[AsyncSession], call: Call) -> Any:
    async with session_scope(sessionmaker) as session:
        return await call(session)


async def people_on(sessionmaker: async_sessionmaker[AsyncSession], feeders: set[str]) -> set[str]:
    """Contact keys of everyone a notice about these feeders must reach, found independently of the planner:
    subscribed Telegram identities bound (current binding) to an account on them, and the contacts of the
    key accounts on them."""
    async with sessionmaker() as session:
        identities = await session.scalars(
            select(Identity.id)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .where(
                UtilityAccount.feeder_code.in_(feeders),
                IdentityAccount.is_current.is_(True),
                Identity.subscribed_notices.is_(True),
                Identity.telegram_chat_id.is_not(None),
                Identity.blocked_at.is_(None),
            )
        )
        contacts = await session.scalars(
            select(KeyAccountContact.id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == KeyAccountContact.account_id)
            .join(UtilityAccount, UtilityAccount.id == KeyAccountContact.account_id)
            .where(UtilityAccount.feeder_code.in_(feeders))
        )
        return {f"identity:{i}" for i in identities} | {f"contact:{c}" for c in contacts}


async def busy_feeders(sessionmaker: async_sessionmaker[AsyncSession], how_many: int) -> list[str]:
    """Feeders of different districts that each have at least one subscribed Telegram customer."""
    async with sessionmaker() as session:
        found = await session.execute(
            select(UtilityAccount.feeder_code, UtilityAccount.area_code)
            .join(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .join(Identity, Identity.id == IdentityAccount.identity_id)
            .where(Identity.subscribed_notices.is_(True), Identity.telegram_chat_id.is_not(None))
            .distinct()
            .order_by(UtilityAccount.feeder_code)
        )
        by_area: dict[str, str] = {}
        for feeder, area in found:
            by_area.setdefault(area, feeder)
    feeders = sorted(by_area.values())
    assert len(feeders) >= how_many
    return feeders[:how_many]


def fault(clock: FrozenClock, feeders: tuple[str, ...], **overrides: Any) -> OutageInput:
    values: dict[str, Any] = {
        "kind": OutageKind.UNPLANNED,
        "starts_at": clock.now() - timedelta(minutes=20),
        "ends_at": None,
        "estimated_restoration_at": clock.now() + timedelta(hours=2),
        "reason": "10kV线路故障抢修",
        "contact": "95598",
        "feeders": feeders,
    }
    values.update(overrides)
    return OutageInput(**values)


async def published_fault(
    sessionmaker: async_sessionmaker[AsyncSession],
    outages: OutageService,
    clock: FrozenClock,
    admin: int,
    *feeders: str,
) -> int:
    async def go(session: AsyncSession) -> int:
        outage = await outages.create(session, fault(clock, feeders), actor_id=admin)
        await outages.publish(session, outage.id, actor_id=admin)
        return outage.id

    return int(await run(sessionmaker, go))


async def mark_sent(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int, stage: str) -> None:
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == stage)
            .values(status="sent", sent_at=NoticeDelivery.due_at)
        )


async def test_a_published_fault_tells_its_feeder_at_once_and_nobody_else(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    feeder, other = await busy_feeders(sessionmaker, 2)
    async with session_scope(sessionmaker) as session:
        draft = await outages.create(session, fault(clock, (feeder,)), actor_id=admin)
        outage_id = draft.id
    assert await rows(sessionmaker, outage_id) == []  # a draft sends nothing
    await run(sessionmaker, lambda s: outages.publish(s, outage_id, actor_id=admin))

    sent = await rows(sessionmaker, outage_id)
    expected = await people_on(sessionmaker, {feeder})
    assert expected and {d.contact_key for d in sent} == expected
    assert not expected & await people_on(sessionmaker, {other}) - expected
    assert {d.stage for d in sent} == {"initial"}
    assert all(d.due_at == clock.now() and d.next_attempt_at == clock.now() for d in sent)  # released now
    assert all(d.deadline_at is None for d in sent)  # restoring it cancels them instead
    async with sessionmaker() as session:
        outage = await session.get(Outage, outage_id)
        assert outage is not None and outage.ends_at == outage.estimated_restoration_at
    estimates = await run(sessionmaker, lambda s: outages.estimates(s, outage_id))
    assert [(e.estimated_restoration_at, name) for e, name in estimates] == [
        (clock.now() + timedelta(hours=2), "admin")
    ]


async def test_the_estimate_moves_every_move_kept_customers_told_past_the_setting(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    [feeder] = await busy_feeders(sessionmaker, 1)
    outage_id = await published_fault(sessionmaker, outages, clock, admin, feeder)
    await mark_sent(sessionmaker, outage_id, "initial")
    first = clock.now() + timedelta(hours=2)

    small = OutageChanges(estimated_restoration_at=first + timedelta(minutes=20))
    await run(sessionmaker, lambda s: outages.update(s, outage_id, small, actor_id=admin))
    assert await rows(sessionmaker, outage_id, stage="change") == []  # 20 minutes: not worth a message

    clock.advance(timedelta(minutes=5))
    big = OutageChanges(estimated_restoration_at=first + timedelta(hours=1, minutes=20))
    await run(sessionmaker, lambda s: outages.update(s, outage_id, big, actor_id=admin))
    told = {d.contact_key for d in await rows(sessionmaker, outage_id, stage="initial")}
    change = await rows(sessionmaker, outage_id, stage="change")
    assert {d.contact_key for d in change} == told and all(d.status == "pending" for d in change)

    estimates = await run(sessionmaker, lambda s: outages.estimates(s, outage_id))
    assert [e.estimated_restoration_at for e, _ in estimates] == [
        first,
        first + timedelta(minutes=20),
        first + timedelta(hours=1, minutes=20),
    ]
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.target_id == str(outage_id))))
    assert actions == ["outage.create", "outage.publish", "outage.update", "outage.update"]

    # a second move before the first update went out: only the latest is sent
    again = OutageChanges(estimated_restoration_at=first + timedelta(hours=3))
    await run(sessionmaker, lambda s: outages.update(s, outage_id, again, actor_id=admin))
    statuses = sorted((d.revision, d.status) for d in await rows(sessionmaker, outage_id, stage="change"))
    assert {status for revision, status in statuses if revision == statuses[-1][0]} == {"pending"}
    assert {status for revision, status in statuses if revision != statuses[-1][0]} == {"cancelled"}


async def test_restored_on_one_feeder_then_all(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    first, second = await busy_feeders(sessionmaker, 2)
    outage_id = await published_fault(sessionmaker, outages, clock, admin, first, second)
    first_people, second_people = await people_on(sessionmaker, {first}), await people_on(sessionmaker, {second})

    clock.advance(timedelta(minutes=40))
    await run(sessionmaker, lambda s: outages.complete(s, outage_id, feeders=(first,), actor_id=admin))
    restored = await rows(sessionmaker, outage_id, stage="restored")
    assert {d.contact_key for d in restored} == first_people
    initial = {d.contact_key: d.status for d in await rows(sessionmaker, outage_id, stage="initial")}
    assert {initial[k] for k in first_people} == {"cancelled"}  # nothing "we know" after power is back
    assert {initial[k] for k in second_people} == {"pending"}
    async with sessionmaker() as session:
        outage = await session.get(Outage, outage_id)
        assert outage is not None and outage.status == "published"
        left = await session.scalars(select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == outage_id))
        assert list(left) == [second]

    clock.advance(timedelta(minutes=20))
    await run(sessionmaker, lambda s: outages.complete(s, outage_id, actor_id=admin))
    restored = await rows(sessionmaker, outage_id, stage="restored")
    assert {d.contact_key for d in restored} == first_people | second_people
    assert {d.status for d in await rows(sessionmaker, outage_id, stage="initial")} == {"cancelled"}
    async with sessionmaker() as session:
        outage = await session.get(Outage, outage_id)
        assert outage is not None and outage.status == "completed"
        assert outage.completed_at == clock.now() and outage.ends_at == clock.now()


async def test_restoring_a_feeder_it_does_not_name_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    first, second = await busy_feeders(sessionmaker, 2)
    outage_id = await published_fault(sessionmaker, outages, clock, admin, first)
    with pytest.raises(InvalidInput) as caught:
        await run(sessionmaker, lambda s: outages.complete(s, outage_id, feeders=(second,), actor_id=admin))
    assert caught.value.field == "feeders" and second in caught.value.message
    assert await rows(sessionmaker, outage_id, stage="restored") == []


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ({"estimated_restoration_at": None}, "estimated_restoration_at"),
        ({"starts_at": "later"}, "starts_at"),  # a fault has already started
        ({"estimated_restoration_at": "before start"}, "estimated_restoration_at"),
        ({"estimated_restoration_at": "passed"}, "estimated_restoration_at"),
        ({"feeders": ("XX-F99",)}, "feeders"),
        ({"feeders": ()}, "areas"),
    ],
)
async def test_a_fault_is_refused_naming_the_field(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    outages: OutageService,
    admin: int,
    case: dict[str, Any],
    field: str,
) -> None:
    now = clock.now()
    times = {
        "later": now + timedelta(hours=1),
        "before start": now - timedelta(hours=1),
        "passed": now - timedelta(minutes=5),
    }
    values = {"feeders": ("BJ-F01",)} | {k: times.get(v, v) if isinstance(v, str) else v for k, v in case.items()}
    feeders = values.pop("feeders")
    with pytest.raises(InvalidInput) as caught:
        await run(sessionmaker, lambda s: outages.create(s, fault(clock, feeders, **values), actor_id=admin))
    assert caught.value.field == field
    async with sessionmaker() as session:
        assert list(await session.scalars(select(Outage.id))) == []


async def test_a_fault_needs_no_subscriber_and_its_start_defaults_to_now(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    data = fault(clock, (), areas=("XH",), starts_at=None)
    outage = await run(sessionmaker, lambda s: outages.create(s, data, actor_id=admin))
    assert outage.starts_at == clock.now() and outage.kind == "unplanned"
    with pytest.raises(Conflict):  # a draft cannot be restored
        await run(sessionmaker, lambda s: outages.complete(s, outage.id, actor_id=admin))


async def test_still_no_power_opens_one_ticket_tied_to_the_outage_and_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    core: CoreServices,
    admin: int,
) -> None:
    [feeder] = await busy_feeders(sessionmaker, 1)
    outage_id = await published_fault(sessionmaker, core.outages, clock, admin, feeder)
    clock.advance(timedelta(hours=1))
    await run(sessionmaker, lambda s: core.outages.complete(s, outage_id, actor_id=admin))
    notice = next(d for d in await rows(sessionmaker, outage_id, stage="restored") if d.identity_id)

    facts = await run(sessionmaker, lambda s: OutageQueries().facts(s, outage_id))
    rendered = NoticeRenderer(Renderer()).notice("restored", "zh", facts, delivery_id=notice.id)
    [button] = rendered.buttons
    assert button.title == "我家仍然没电" and button.payload == f"notice:nopower:{notice.id}"
    assert "故障已修复" in rendered.html
    english = NoticeRenderer(Renderer()).notice("restored", "en", facts, delivery_id=notice.id)
    assert english.buttons[0].title == "Still no power at my place"

    responder = core.notice_responder()
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, notice.identity_id)
        assert identity is not None
        [reply] = await responder.on_payload(session, identity, button.payload, "zh") or []
        again = await responder.on_payload(session, identity, button.payload, "en") or []
        stranger = Identity(channel="telegram", external_id="1", telegram_chat_id=1, created_at=clock.now())
        session.add(stranger)
        await session.flush()
        assert await responder.on_payload(session, stranger, button.payload, "zh") is None  # not theirs
    async with sessionmaker() as session:
        [ticket] = list(await session.scalars(select(FaultTicket).where(FaultTicket.outage_id == outage_id)))
    assert ticket.identity_id == notice.identity_id and ticket.account_id == notice.account_id
    assert ticket.reference in reply.text and "已为您报修" in reply.text
    assert ticket.reference in again[0].text and "already reported" in again[0].text


async def test_told_in_the_chat_first_then_no_we_know_notice(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, core: CoreServices, admin: int
) -> None:
    [feeder] = await busy_feeders(sessionmaker, 1)
    outage_id = await published_fault(sessionmaker, core.outages, clock, admin, feeder)
    first, *others = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.identity_id]
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, first.identity_id)
        assert identity is not None
        await core.notice_responder().on_told(session, identity, [outage_id])
    after = {d.id: d for d in await rows(sessionmaker, outage_id, stage="initial")}
    assert (after[first.id].status, after[first.id].last_error) == ("skipped", "told in the chat")
    assert all(after[d.id].status == "pending" for d in others)


def test_fault_notices_ignore_quiet_hours() -> None:
    rules = PlannerRules()
    night = local(2026, 12, 1, 23, 30)
    row = NoticeDelivery(subject_kind="outage", outage_id=5, tier=3, stage="initial", deadline_at=None)
    assert waits_for_quiet_hours(row, night, rules)  # a planned outage's late initial notice waits
    assert not waits_for_quiet_hours(row, night, rules, urgent={5})  # a fault's goes now


async def test_publishing_a_fault_closes_the_probable_fault_alert_of_its_feeder(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, outages: OutageService, admin: int
) -> None:
    first, second = await busy_feeders(sessionmaker, 2)
    async with session_scope(sessionmaker) as session:
        for feeder in (first, second):
            session.add(FeederAlert(feeder_code=feeder, reports=3, first_report_at=clock.now(), created_at=clock.now()))
    outage_id = await published_fault(sessionmaker, outages, clock, admin, first)
    async with sessionmaker() as session:
        alerts = {a.feeder_code: a for a in await session.scalars(select(FeederAlert))}
    assert (alerts[first].outage_id, alerts[first].closed_at) == (outage_id, clock.now())
    assert (alerts[second].outage_id, alerts[second].closed_at) == (None, None)  # another feeder's: still open
