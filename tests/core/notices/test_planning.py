"""The notice plan in the outbox: stages and deliveries made on publication, audiences resolved again when a
stage starts, reschedules, cancellations, completion (on the demo data, without sending anything)."""

from __future__ import annotations

from datetime import timedelta
from math import ceil

import pytest
from sqlalchemy import select, update

from core.clock import FrozenClock
from core.db import session_scope
from core.errors import Conflict, InvalidInput
from core.models import Identity, IdentityAccount, NoticeDelivery, UtilityAccount
from core.notices.queue_repository import QueueRepository
from core.notices.render import plain_text
from core.notices.repository import OutboxRepository
from core.notices.stage_rows import LEFT_AUDIENCE
from core.outages import service
from tests.support.notices import (
    TOKEN,
    XH_CONTACT_CHATS,
    draft,
    load_demo_world,
    local,
    notice_settings,
    rows,
    stages,
    xh_identities,
)
from tests.support.services import core_services


@pytest.fixture
async def world(sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())


async def publish(sessionmaker, clock, settings, data: service.OutageInput) -> int:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(session, data, actor_id=None)
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
        return outage.id


async def start_stages(sessionmaker, clock, settings) -> int:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        return await core_services(clock, settings).stage_starter.start_due_stages(session)


async def mark_sent(sessionmaker, outage_id: int, stage: str) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == stage)
            .where(NoticeDelivery.status == "pending")
            .values(status="sent")
        )


async def test_published_16_days_ahead_every_recipient_has_the_three_stages(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))

    plan = await stages(sessionmaker, outage_id)
    assert sorted((s.stage, s.audience) for s in plan) == sorted(
        (stage, audience) for stage in ("15d", "7d", "30m") for audience in ("key_account", "residential")
    )
    assert all(s.status == "planned" for s in plan)
    due = {"15d": start - timedelta(days=15), "7d": start - timedelta(days=7), "30m": start - timedelta(minutes=30)}
    deliveries = await rows(sessionmaker, outage_id)
    async with sessionmaker() as session:
        identities = await xh_identities(session)
    recipients = {f"identity:{i.id}" for i in identities} | {d.contact_key for d in deliveries if d.key_contact_id}
    assert len([k for k in recipients if k.startswith("contact:")]) == len(XH_CONTACT_CHATS)
    for key in recipients:
        mine = {d.stage: d.due_at for d in deliveries if d.contact_key == key}
        assert mine == due, key
    assert all(d.status == "pending" and d.next_attempt_at is None for d in deliveries)  # not claimable before

    async with sessionmaker() as session:
        listed, total, counts = await OutboxRepository(session).list_deliveries(
            outage_id, stage="15d", status=None, segment=None, limit=100, offset=0
        )
    segments = [r.delivery.segment for r in listed]
    assert segments[: len(XH_CONTACT_CHATS)] == ["key_account"] * len(XH_CONTACT_CHATS)  # key accounts first
    assert "key_account" not in segments[len(XH_CONTACT_CHATS) :]
    assert total == len(recipients) and counts == {"pending": total}
    assert {r.recipient for r in listed if r.delivery.segment == "key_account"} == {"郑国华", "冯涛"}


async def test_published_3_days_ahead_an_immediate_initial_and_the_final(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=3)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    by_stage: dict[str, set[str]] = {}
    for d in await rows(sessionmaker, outage_id):
        by_stage.setdefault(d.stage, set()).add(d.contact_key)
        if d.stage == "initial":
            assert d.due_at == clock.now() and d.next_attempt_at == clock.now()  # released now
        else:
            assert d.due_at == start - timedelta(minutes=30) and d.next_attempt_at is None
    assert set(by_stage) == {"initial", "30m"}
    assert by_stage["initial"] == by_stage["30m"]
    assert {s.status for s in await stages(sessionmaker, outage_id) if s.stage == "initial"} == {"resolved"}


async def test_the_audience_is_resolved_again_when_each_stage_starts(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    async with session_scope(sessionmaker) as session:
        leaver = (await xh_identities(session))[0]
        leaver.subscribed_notices = False
        account = await session.scalar(
            select(UtilityAccount).where(UtilityAccount.area_code == "XH").order_by(UtilityAccount.id.desc())
        )
        assert account is not None
        joiner = Identity(
            channel="telegram",
            external_id="799000001",
            telegram_chat_id=799_000_001,
            language="en",
            subscribed_notices=True,
            created_at=clock.now(),
        )
        session.add(joiner)
        await session.flush()
        session.add(IdentityAccount(identity_id=joiner.id, account_id=account.id, verified_at=clock.now()))
    leaver_key, joiner_key = f"identity:{leaver.id}", f"identity:{joiner.id}"

    first = next(s for s in await stages(sessionmaker, outage_id) if s.stage == "15d" and s.audience == "residential")
    clock.set(first.send_from)
    assert await start_stages(sessionmaker, clock, settings) == 2  # key accounts and residential of 15d
    now_15d = {d.contact_key: d for d in await rows(sessionmaker, outage_id, stage="15d")}
    assert now_15d[joiner_key].status == "pending" and now_15d[joiner_key].next_attempt_at == first.send_from
    assert now_15d[joiner_key].language == "en"
    assert now_15d[leaver_key].status == "cancelled" and now_15d[leaver_key].last_error == LEFT_AUDIENCE
    # the 7-day stage is resolved when it starts, not before
    later = {d.contact_key: d for d in await rows(sessionmaker, outage_id, stage="7d")}
    assert joiner_key not in later and later[leaver_key].status == "pending"
    assert await start_stages(sessionmaker, clock, settings) == 0  # idempotent: nothing else is due

    async with session_scope(sessionmaker) as session:  # the leaver changes their mind before the 7-day stage
        back = await session.get(Identity, leaver.id)
        assert back is not None
        back.subscribed_notices = True
    clock.set(start - timedelta(days=7))
    await start_stages(sessionmaker, clock, settings)
    later = {d.contact_key: d for d in await rows(sessionmaker, outage_id, stage="7d")}
    assert later[joiner_key].status == "pending" and later[leaver_key].status == "pending"


async def test_reschedule_after_the_first_notice_change_to_those_told_and_replanned_stages(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    clock.set(start - timedelta(days=15))
    await start_stages(sessionmaker, clock, settings)
    await mark_sent(sessionmaker, outage_id, "15d")
    told = {d.contact_key for d in await rows(sessionmaker, outage_id, stage="15d")}

    clock.advance(timedelta(days=2))
    new_start = start + timedelta(days=2)
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).outages.update(
            session,
            outage_id,
            service.OutageChanges(starts_at=new_start, ends_at=new_start + timedelta(hours=4)),
            actor_id=None,
        )
    change = await rows(sessionmaker, outage_id, stage="change")
    assert {d.contact_key for d in change} == told
    assert all(d.due_at == clock.now() and d.next_attempt_at == clock.now() for d in change)
    for stage, before in (("7d", timedelta(days=7)), ("30m", timedelta(minutes=30))):
        planned = await rows(sessionmaker, outage_id, stage=stage)
        assert {d.due_at for d in planned} == {new_start - before}
    assert not await rows(sessionmaker, outage_id, stage="initial")
    assert len(await rows(sessionmaker, outage_id, stage="15d")) == len(told)  # not planned again

    await mark_sent(sessionmaker, outage_id, "change")  # a second reschedule: a second round of change notices
    clock.advance(timedelta(hours=2))
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).outages.update(
            session, outage_id, service.OutageChanges(reason="设备更换"), actor_id=None
        )
    rounds = {d.revision for d in await rows(sessionmaker, outage_id, stage="change")}
    assert len(rounds) == 2


async def test_cancel_tells_only_those_already_told(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=10)  # an initial now, a 7-day notice, the final
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    initial = await rows(sessionmaker, outage_id, stage="initial")
    async with session_scope(sessionmaker) as session:  # half of them have been told
        told_ids = [d.id for d in initial[: len(initial) // 2]]
        await session.execute(update(NoticeDelivery).where(NoticeDelivery.id.in_(told_ids)).values(status="sent"))
    told = {d.contact_key for d in initial if d.id in told_ids}

    clock.advance(timedelta(hours=1))
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).outages.cancel(session, outage_id, actor_id=None)
    cancel = await rows(sessionmaker, outage_id, stage="cancel")
    assert {d.contact_key for d in cancel} == told
    assert all(d.status == "pending" and d.next_attempt_at == clock.now() for d in cancel)
    others = [d for d in await rows(sessionmaker, outage_id) if d.stage != "cancel" and d.id not in told_ids]
    assert others and {d.status for d in others} == {"cancelled"}  # nothing else will go out
    with pytest.raises(Conflict):
        async with session_scope(sessionmaker) as session:
            await core_services(clock, settings).outages.cancel(session, outage_id, actor_id=None)


async def test_cancelling_a_draft_sends_nothing_and_completing_sends_the_restoration(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    async with session_scope(sessionmaker) as session:
        a_draft = await core_services(clock, settings).outages.create(
            session, draft(clock.now() + timedelta(days=2)), actor_id=None
        )
        await core_services(clock, settings).outages.cancel(session, a_draft.id, actor_id=None)
    assert await rows(sessionmaker, a_draft.id) == []

    start = clock.now() + timedelta(days=2)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    with pytest.raises(Conflict):
        async with session_scope(sessionmaker) as session:
            await core_services(clock, settings).outages.complete(session, outage_id, actor_id=None)
    clock.set(start + timedelta(hours=5))
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).outages.complete(session, outage_id, actor_id=None)
    restored = await rows(sessionmaker, outage_id, stage="restored")
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {d.contact_key for d in restored} == {d.contact_key for d in initial}
    final = await rows(sessionmaker, outage_id, stage="30m")
    assert {d.status for d in final} == {"cancelled"}


async def test_bad_input_names_the_field(world: None, sessionmaker, clock: FrozenClock, database_url: str) -> None:
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=2)
    cases = [
        (draft(start, ends_at=start - timedelta(hours=1)), "ends_at"),
        (draft(clock.now() - timedelta(hours=1)), "starts_at"),
        (draft(start, areas=("ZZ",)), "areas"),
        (draft(start, areas=(), feeders=("XX-F09",)), "feeders"),
        (draft(start, areas=(), accounts=("0000000000",)), "accounts"),
        (draft(start, areas=()), "areas"),
        (draft(start, reason="  "), "reason"),
    ]
    async with sessionmaker() as session:
        lonely = await session.scalar(  # a residential account nobody bound to a chat: nobody to tell
            select(UtilityAccount.account_number)
            .outerjoin(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .where(IdentityAccount.identity_id.is_(None), UtilityAccount.account_number.like("3301%"))
            .limit(1)
        )
    cases.append((draft(start, areas=(), accounts=(lonely,)), "accounts"))
    for data, field_name in cases:
        with pytest.raises(InvalidInput) as caught:
            async with session_scope(sessionmaker) as session:
                await core_services(clock, settings).outages.create(session, data, actor_id=None)
        assert caught.value.field == field_name, (data, caught.value.message)


async def test_key_account_contacts_get_email_too_when_smtp_is_set(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    both = notice_settings(database_url, telegram_token=TOKEN, smtp_host="127.0.0.1")
    outage_id = await publish(sessionmaker, clock, both, draft(clock.now() + timedelta(days=2)))
    contact_rows = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.key_contact_id]
    assert sorted(d.channel for d in contact_rows) == ["email", "email", "telegram", "telegram"]
    assert all(d.segment == "key_account" for d in contact_rows)
    residential = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.identity_id]
    assert {d.channel for d in residential} == {"telegram"}

    telegram_only = notice_settings(
        database_url, telegram_token=TOKEN, smtp_host="127.0.0.1", notice_email_key_accounts=False
    )
    outage_id = await publish(sessionmaker, clock, telegram_only, draft(clock.now() + timedelta(days=2)))
    contact_rows = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.key_contact_id]
    assert {d.channel for d in contact_rows} == {"telegram"}


async def test_quiet_hours_move_residential_advance_notices_only(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    start = local(2026, 12, 14, 23, 30)  # 15d and 7d fall at 23:30 local time
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    plan = {(s.stage, s.audience): s for s in await stages(sessionmaker, outage_id)}
    assert plan[("15d", "key_account")].due_at == start - timedelta(days=15)
    assert plan[("15d", "residential")].due_at == local(2026, 11, 30, 7)
    assert plan[("15d", "residential")].send_from == local(2026, 11, 30, 7)  # not a minute earlier
    assert plan[("7d", "residential")].due_at == local(2026, 12, 8, 7)
    assert plan[("30m", "residential")].due_at == plan[("30m", "key_account")].due_at == start - timedelta(minutes=30)


@pytest.mark.parametrize(
    ("rate", "kept_up"),
    [
        (0.05, 0.05),  # below one a second the limiter keeps no window: the rate itself
        (2.0, 0.8),  # 2 sends in any 2.5 s (1 s + three sends' time): what the limiter really sends
    ],
)
async def test_a_stage_starts_early_enough_for_its_audience_at_the_rate(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, rate: float, kept_up: float
) -> None:
    settings = notice_settings(database_url, notice_rate_limit=rate, notice_fanout_margin_minutes=5)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    plan = {(s.stage, s.audience): s for s in await stages(sessionmaker, outage_id)}
    everyone = len(await rows(sessionmaker, outage_id, stage="30m"))
    final_key, final_res = plan[("30m", "key_account")], plan[("30m", "residential")]
    expected = final_key.due_at - timedelta(seconds=ceil(everyone / kept_up)) - timedelta(minutes=5)
    assert final_key.send_from == final_res.send_from == expected  # together, key accounts first in the claim


async def test_the_worker_plans_outages_published_as_data(sessionmaker, clock: FrozenClock, database_url: str) -> None:
    from core.demo import load_demo

    settings = notice_settings(database_url)
    async with session_scope(sessionmaker) as session:
        await load_demo(session, clock.now())
    async with session_scope(sessionmaker) as session:
        assert await core_services(clock, settings).planner.plan_published(session) == 2  # the two planned demo outages
    async with session_scope(sessionmaker) as session:
        assert await core_services(clock, settings).planner.plan_published(session) == 0
    async with sessionmaker() as session:
        assert await session.scalar(select(NoticeDelivery.id).limit(1)) is not None


async def test_publishing_says_which_stages_start_early_and_by_how_much(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url, notice_rate_limit=0.05, notice_fanout_margin_minutes=5)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=16)))
    async with sessionmaker() as session:
        view = await core_services(clock, settings).outage_views.outage(session, outage_id)
    final = {s.audience: s for s in view.stages if s.stage == "30m"}
    everyone = len(await rows(sessionmaker, outage_id, stage="30m"))
    expected = (ceil(everyone / 0.05) + 5 * 60) // 60
    assert final["key_account"].early_by_minutes == final["residential"].early_by_minutes == expected > 5
    assert all(s.early_by_minutes == int((s.due_at - s.send_from).total_seconds() // 60) for s in view.stages)
    fast = notice_settings(database_url, notice_fanout_margin_minutes=0)  # 1000/s: nobody needs to start early
    outage_id = await publish(sessionmaker, clock, fast, draft(clock.now() + timedelta(days=16)))
    async with sessionmaker() as session:
        view = await core_services(clock, fast).outage_views.outage(session, outage_id)
    assert {s.early_by_minutes for s in view.stages} == {0}


async def test_the_preview_shows_a_notice_too_long_for_telegram_shortened(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(
            session, draft(clock.now() + timedelta(days=16)), actor_id=None
        )
        outage.reason = "更换开关柜。" * 1200  # longer than the API takes: loaded by other means
    async with sessionmaker() as session:
        items = await core_services(clock, settings).outage_views.preview(session, outage.id)
    assert items and all(len(plain_text(i.text)) <= 4096 for i in items)
    announcing = [i for i in items if i.stage in ("15d", "7d", "30m", "change")]
    assert announcing and all(("以上为节选" in i.text or "shortened" in i.text) for i in announcing)
    assert all("95598" in i.text for i in announcing)


async def test_a_later_stage_that_starts_supersedes_the_earlier_ones_still_waiting(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    """A worker down for a day, back 10 minutes before the outage: only the final confirmation goes."""
    settings = notice_settings(database_url)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    clock.set(start - timedelta(minutes=10))
    assert await start_stages(sessionmaker, clock, settings) == 6  # 15d, 7d, 30m for both groups
    by_stage: dict[str, set[tuple[str, str | None]]] = {}
    for d in await rows(sessionmaker, outage_id):
        by_stage.setdefault(d.stage, set()).add((d.status, d.last_error))
    assert by_stage["15d"] == {("skipped", "superseded by the 7d notice")}
    assert by_stage["7d"] == {("skipped", "superseded by the 30m notice")}
    assert by_stage["30m"] == {("pending", None)}


async def test_cancelling_an_outage_cancels_the_notices_being_sent_too(
    world: None, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = notice_settings(database_url)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    lease = clock.now() + timedelta(minutes=5)
    async with session_scope(sessionmaker) as session:
        claimed = await QueueRepository(session).claim(clock.now(), 5, ["telegram"], lease, "a" * 32)
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).outages.cancel(session, outage_id, actor_id=None)
    async with session_scope(sessionmaker) as session:  # the dispatcher's result comes in after the cancel
        await QueueRepository(session).record(
            [
                {
                    "b_id": d.id,
                    "b_token": "a" * 32,
                    "b_status": "pending",
                    "b_next": clock.now(),
                    "b_sent": None,
                    "b_error": "502",
                    "b_attempts": 1,
                }
                for d in claimed
            ]
        )
    ids = {d.id for d in claimed}
    mine = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.id in ids]
    assert {(d.status, d.last_error) for d in mine} == {("cancelled", "outage cancelled")}
