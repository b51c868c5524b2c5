"""The outbox dispatcher against a fake Bot API server and a real SMTP server, both on loopback: what is
sent, in which order, and what a 429, a 5xx, a 403 or a crashed worker leads to."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Identity, KeyAccountContact, NoticeDelivery
from core.models.enums import Tier
from core.notices.channels import NoticeChannel, RetryAfter
from core.notices.dispatcher import Dispatcher
from core.notices.queue_repository import QueueRepository
from core.notices.ratelimit import TelegramLimiter
from core.notices.render import NoticeRenderer, RenderedNotice
from core.notices.stage_rows import LEFT_AUDIENCE
from core.outages import service
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.sms_gateway import SmsGateway
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import (
    XH_CONTACT_CHATS,
    SmtpServer,
    channel_settings,
    contacts_by_chat,
    draft,
    load_demo_world,
    local,
    rows,
    xh_identities,
)
from tests.support.services import core_services

ALL_AREAS = ("XH", "GS", "SC", "BJ", "YH")


@pytest.fixture
async def world(sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def make_dispatcher(sessionmaker, clock: FrozenClock) -> AsyncIterator[Callable[[Settings], Dispatcher]]:  # type: ignore[no-untyped-def]
    made: list[Dispatcher] = []

    def make(settings: Settings) -> Dispatcher:
        dispatcher = Dispatcher(
            sessionmaker, clock, settings, build_channels(settings), NoticeRenderer(Renderer(settings.timezone))
        )
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        await dispatcher.aclose()


async def publish(sessionmaker, clock, settings, data: service.OutageInput) -> int:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(session, data, actor_id=None)
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
        return outage.id


async def test_due_notices_go_out_key_accounts_first_and_are_recorded(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    smtp: SmtpServer,
    make_dispatcher,
) -> None:
    settings = channel_settings(database_url, api, smtp)
    reason = "更换<b>开关柜</b> & 母线"
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3), reason=reason))
    async with session_scope(sessionmaker) as session:  # key accounts go first even when created or due later
        for row in await session.scalars(select(NoticeDelivery).where(NoticeDelivery.segment == "key_account")):
            row.due_at += timedelta(minutes=1)
    dispatcher = make_dispatcher(settings)

    handled = await dispatcher.run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert handled == len(initial)
    assert {d.status for d in initial} == {"sent"}
    assert all(d.sent_at == clock.now() and d.attempts == 1 for d in initial)
    sent = api.sent()
    chats = [c.chat_id for c in sent]
    assert Counter(chats) == Counter(d.telegram_chat_id for d in initial if d.channel == "telegram")
    assert set(chats[: len(XH_CONTACT_CHATS)]) == XH_CONTACT_CHATS  # key accounts first
    assert all(c.params["parse_mode"] == "HTML" for c in sent)
    assert "更换&lt;b&gt;开关柜&lt;/b&gt; &amp; 母线" in sent[0].text  # staff text is escaped data
    assert "城西自来水厂" in sent[0].text and "王建国" in sent[0].text  # key accounts: account and manager
    residential = next(c for c in sent if c.chat_id not in XH_CONTACT_CHATS)
    assert "王建国" not in residential.text

    emails = [m for m in smtp.messages]
    assert sorted(str(m["To"]) for m in emails) == ["feng.tao@example.com", "zheng.guohua@example.com"]
    body = emails[0].get_body(preferencelist=("plain",))
    assert body is not None and reason in body.get_content()  # plain text: the reason as typed
    assert "计划停电通知" in str(emails[0]["Subject"])

    assert {d.status for d in await rows(sessionmaker, outage_id, stage="30m")} == {"pending"}  # not due yet
    assert await dispatcher.run_once() == 0  # nothing twice
    assert len(api.sent()) == len(sent)


async def test_the_final_confirmation_carries_confirm_and_problem_buttons(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    smtp: SmtpServer,
    make_dispatcher,
) -> None:
    settings = channel_settings(database_url, api, smtp)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(minutes=20)))
    await make_dispatcher(settings).run_once()
    final = {d.id: d for d in await rows(sessionmaker, outage_id, stage="30m")}
    assert {d.status for d in final.values()} == {"sent"}
    with_buttons = [c for c in api.sent() if c.buttons]
    assert len(with_buttons) == len([d for d in final.values() if d.channel == "telegram"])
    for call in with_buttons:
        payloads = [b["callback_data"] for b in call.buttons]
        delivery_id = int(payloads[0].rsplit(":", 1)[1])
        assert payloads == [f"notice:ack:{delivery_id}", f"notice:problem:{delivery_id}"]
        assert final[delivery_id].telegram_chat_id == call.chat_id
        assert [b["text"] for b in call.buttons] in (["确认收到", "有问题"], ["Confirm", "Problem"])
    final_mail = [m for m in smtp.messages if "最后确认" in str(m["Subject"])]
    assert final_mail and all("王建国" in m.get_body(("plain",)).get_content() for m in final_mail)  # type: ignore[union-attr]


async def test_a_429_pauses_sending_for_retry_after_then_everything_goes(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_concurrency=1)  # nothing else in flight
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    api.fail_next("sendMessage", 429, retry_after=1)
    await make_dispatcher(settings).run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {d.status for d in initial} == {"sent"}
    assert len(api.sent()) == len(initial)
    assert len(api.calls) == len(initial) + 1
    refused_at = api.calls[0].at
    assert all(c.at >= refused_at + 0.95 for c in api.calls[1:])  # nothing was sent during the pause
    assert api.calls[1].chat_id == api.calls[0].chat_id  # the refused message went first after it


async def test_a_5xx_is_retried_with_backoff_until_the_deadline_not_a_fixed_count(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(
        database_url, api, None, notice_max_attempts=2, notice_retry_base_seconds=10, notice_retry_max_seconds=600
    )
    async with sessionmaker() as session:
        identity = (await xh_identities(session))[0]
        chat = identity.telegram_chat_id
    start = clock.now() + timedelta(minutes=45)  # published late: an initial notice now, the deadline at the start
    data = draft(start, areas=(), accounts=(await account_of(sessionmaker, identity.id),))
    outage_id = await publish(sessionmaker, clock, settings, data)
    dispatcher = make_dispatcher(settings)

    api.fail_next("sendMessage", 500)
    await dispatcher.run_once()
    [row] = await rows(sessionmaker, outage_id, stage="initial")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at is not None
    assert clock.now() + timedelta(seconds=5) <= row.next_attempt_at <= clock.now() + timedelta(seconds=10)
    assert "Internal Server Error" in (row.last_error or "")
    assert await dispatcher.run_once() == 0  # not before its time

    for attempt in range(2, 6):  # past notice_max_attempts: the row has a deadline, it is tried until then
        clock.set(row.next_attempt_at)
        api.fail_next("sendMessage", 502)
        await dispatcher.run_once()
        [row] = await rows(sessionmaker, outage_id, stage="initial")
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.next_attempt_at is not None and row.next_attempt_at < start
    clock.set(row.next_attempt_at)
    async with session_scope(sessionmaker) as session:  # (a deadline close enough for the next delay to pass it)
        stored = await session.get(NoticeDelivery, row.id)
        assert stored is not None
        stored.deadline_at = clock.now() + timedelta(seconds=60)
    api.fail_next("sendMessage", 502)  # the next retry would come after the deadline: give up now
    await dispatcher.run_once()
    [row] = await rows(sessionmaker, outage_id, stage="initial")
    assert (row.status, row.attempts) == ("failed", 6) and "deadline" in (row.last_error or "")
    assert {c.chat_id for c in api.calls if c.method == "sendMessage"} == {chat} and not api.sent()


async def test_a_row_without_a_deadline_gives_up_after_the_limit(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_max_attempts=2, notice_retry_base_seconds=10)
    async with sessionmaker() as session:
        identity = (await xh_identities(session))[0]
    data = draft(clock.now() + timedelta(days=3), areas=(), accounts=(await account_of(sessionmaker, identity.id),))
    outage_id = await publish(sessionmaker, clock, settings, data)
    async with session_scope(sessionmaker) as session:
        for row in await session.scalars(select(NoticeDelivery).where(NoticeDelivery.outage_id == outage_id)):
            row.deadline_at = None
    dispatcher = make_dispatcher(settings)
    api.fail_next("sendMessage", 500)
    await dispatcher.run_once()
    clock.advance(timedelta(seconds=10))
    api.fail_next("sendMessage", 502)
    await dispatcher.run_once()
    [row] = await rows(sessionmaker, outage_id, stage="initial")
    assert (row.status, row.attempts) == ("failed", 2)
    clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0  # failed is final


async def test_a_5xx_then_success(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    api.fail_next("sendMessage", 500)
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    statuses = Counter(d.status for d in await rows(sessionmaker, outage_id, stage="initial"))
    assert statuses["pending"] == 1
    clock.advance(timedelta(minutes=15))
    await dispatcher.run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {d.status for d in initial} == {"sent"}
    assert sorted(d.attempts for d in initial)[-1] == 2
    assert Counter(c.chat_id for c in api.sent()) == Counter(d.telegram_chat_id for d in initial)  # once each


async def test_403_marks_the_identity_blocked_and_it_is_not_told_again(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    async with sessionmaker() as session:
        blocked = (await xh_identities(session))[1]
    api.block_chat(blocked.telegram_chat_id or 0)
    start = clock.now() + timedelta(days=10)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    [row] = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.identity_id == blocked.id]
    assert (row.status, row.attempts) == ("blocked", 1)
    async with sessionmaker() as session:
        identity = await session.get(Identity, blocked.id)
        assert identity is not None and identity.blocked_at == clock.now()
    calls = len(api.calls)
    assert await dispatcher.run_once() == 0 and len(api.calls) == calls  # no retry

    clock.set(start - timedelta(days=7))
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).stage_starter.start_due_stages(session)
    [later] = [d for d in await rows(sessionmaker, outage_id, stage="7d") if d.identity_id == blocked.id]
    assert (later.status, later.last_error) == ("cancelled", LEFT_AUDIENCE)


async def test_403_from_a_key_account_contact_sends_the_notice_by_email_instead(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    smtp: SmtpServer,
    make_dispatcher,
) -> None:
    settings = channel_settings(database_url, api, smtp, notice_email_key_accounts=False)
    api.block_chat(720_000_009)
    start = clock.now() + timedelta(days=10)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    assert not [d for d in await rows(sessionmaker, outage_id) if d.channel == "email"]  # Telegram only, so far
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    await dispatcher.run_once()
    async with sessionmaker() as session:
        contact = await session.scalar(
            select(KeyAccountContact).where(KeyAccountContact.telegram_chat_id == 720_000_009)
        )
        assert contact is not None and contact.telegram_blocked_at == clock.now()
    mine = {
        d.channel: d for d in await rows(sessionmaker, outage_id, stage="initial") if d.key_contact_id == contact.id
    }
    assert mine["telegram"].status == "blocked"
    assert mine["email"].status == "sent"
    [mail] = smtp.to(contact.email or "")
    assert "计划停电通知" in str(mail["Subject"])

    clock.set(start - timedelta(days=7))  # the next stage goes to them by email from the start
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).stage_starter.start_due_stages(session)
    later = {
        d.channel: d.status for d in await rows(sessionmaker, outage_id, stage="7d") if d.key_contact_id == contact.id
    }
    assert later == {"telegram": "cancelled", "email": "pending"}


async def test_a_key_account_contact_no_route_reached_gets_the_notice_by_sms(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    smtp: SmtpServer,
    make_dispatcher,
) -> None:
    """Telegram and email as usual; the SMS gateway only once both failed for good (403, a 550 bounce)."""
    async with SmsGateway() as gateway:
        settings = channel_settings(database_url, api, smtp, sms_webhook_url=gateway.url)
        async with sessionmaker() as session:
            contact = await contacts_by_chat(session, 720_000_009)
        assert contact.email and contact.phone
        api.block_chat(720_000_009)
        smtp.refuse.add(contact.email)
        outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=10)))
        first = [d for d in await rows(sessionmaker, outage_id) if d.channel == "sms"]
        assert first == []  # nobody is texted while Telegram or email may reach them
        dispatcher = make_dispatcher(settings)
        for _ in range(3):
            await dispatcher.run_once()
        mine = {
            d.channel: d.status
            for d in await rows(sessionmaker, outage_id, stage="initial")
            if d.key_contact_id == contact.id
        }
        assert mine == {"telegram": "blocked", "email": "failed", "sms": "sent"}
        [sms] = gateway.received
        assert sms["to"] == contact.phone and "计划停电" in sms["text"]
        texted = {d.key_contact_id for d in await rows(sessionmaker, outage_id) if d.channel == "sms"}
        assert texted == {contact.id}  # the contacts Telegram or email reached get no SMS


@pytest.mark.parametrize("bounces", [False, True])
async def test_a_contact_who_blocked_the_bot_is_texted_only_when_the_email_instead_bounces(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    smtp: SmtpServer,
    make_dispatcher,
    bounces: bool,
) -> None:
    """Telegram only at first (no email to key accounts as a rule); a 403 moves the notice to email; an SMS
    follows only if that email bounces too."""
    async with SmsGateway() as gateway:
        settings = channel_settings(
            database_url, api, smtp, sms_webhook_url=gateway.url, notice_email_key_accounts=False
        )
        async with sessionmaker() as session:
            contact = await contacts_by_chat(session, 720_000_009)
        api.block_chat(720_000_009)
        if bounces:
            smtp.refuse.add(contact.email or "")
        outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=10)))
        dispatcher = make_dispatcher(settings)
        for _ in range(4):
            await dispatcher.run_once()
        mine = {
            d.channel: d.status
            for d in await rows(sessionmaker, outage_id, stage="initial")
            if d.key_contact_id == contact.id
        }
        if bounces:
            assert mine == {"telegram": "blocked", "email": "failed", "sms": "sent"}
            assert [m["to"] for m in gateway.received] == [contact.phone]
        else:
            assert mine == {"telegram": "blocked", "email": "sent"}
            assert gateway.received == []


class StartTimes:
    """Wraps a channel and notes when each send starts (the moment the limiter lets it go)."""

    def __init__(self, inner: NoticeChannel) -> None:
        self.inner = inner
        self.starts: list[tuple[float, str, str]] = []

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        self.starts.append((time.monotonic(), address, notice.html))
        await self.inner.deliver(address, notice)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_one_message_a_second_per_chat(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_chat_interval=1.0)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(minutes=20)))
    dispatcher = make_dispatcher(settings)
    spy = dispatcher.channels["telegram"] = StartTimes(dispatcher.channels["telegram"])
    await dispatcher.run_once()
    by_chat: dict[str, list[tuple[float, str]]] = {}
    for at, address, text in spy.starts:
        by_chat.setdefault(address, []).append((at, text))
    assert by_chat and all(len(sends) == 2 for sends in by_chat.values())  # the initial and the final
    for (first_at, first_text), (second_at, _) in by_chat.values():
        # a second apart, in the order they were due (the limiter spaces its releases; the spy sees each send
        # however long after its release the sender reached the channel: under load, a few milliseconds)
        assert second_at - first_at >= 0.99
        assert "计划停电通知" in first_text or "Planned power outage" in first_text
    assert len(api.sent()) == len(spy.starts)
    assert {d.status for d in await rows(sessionmaker, outage_id)} == {"sent"}


async def test_a_crashed_workers_claim_is_taken_over_when_its_lease_ends(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_lease_seconds=60)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    async with session_scope(sessionmaker) as session:  # a worker claims a batch, then dies
        claimed = await QueueRepository(session).claim(
            clock.now(), 5, ["telegram"], clock.now() + timedelta(seconds=60)
        )
    assert len(claimed) == 5
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert Counter(d.status for d in initial) == {"sent": len(initial) - 5, "sending": 5}
    clock.advance(timedelta(seconds=61))
    assert await dispatcher.run_once() == 5
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {d.status for d in initial} == {"sent"}
    assert {d.attempts for d in initial if d.id in {c.id for c in claimed}} == {2}


class StuckRecorder(Dispatcher):
    """A dispatcher whose results cannot be written until `unstick` is set (a database that has stalled)."""

    unstick: asyncio.Event

    async def _record(self, results) -> None:  # type: ignore[no-untyped-def]
        await self.unstick.wait()
        await super()._record(results)


async def test_senders_wait_for_the_recorder_so_a_crash_repeats_at_most_one_batch(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:  # type: ignore[no-untyped-def]
    settings = channel_settings(database_url, api, None, notice_batch_size=5, notice_concurrency=4)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    dispatcher = StuckRecorder(
        sessionmaker, clock, settings, build_channels(settings), NoticeRenderer(Renderer(settings.timezone))
    )
    dispatcher.unstick = asyncio.Event()
    try:
        tick = asyncio.create_task(dispatcher.run_once())
        await asyncio.sleep(0.5)
        assert len(api.calls) == 5  # sent and not recorded: never more than a batch (what a crash would repeat)
        dispatcher.unstick.set()
        await asyncio.wait_for(tick, 10)
    finally:
        await dispatcher.aclose()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert len(initial) > 5 and {d.status for d in initial} == {"sent"}
    assert len(api.sent()) == len({c.chat_id for c in api.sent()}) == len(initial)


async def test_two_dispatchers_share_the_outbox_without_sending_anything_twice(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_batch_size=10, notice_concurrency=5)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3), areas=ALL_AREAS))
    one, two = make_dispatcher(settings), make_dispatcher(settings)
    handled = await asyncio.gather(one.run_once(), two.run_once())
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert sum(handled) == len(initial) > 60
    assert {d.status for d in initial} == {"sent"} and {d.attempts for d in initial} == {1}
    assert Counter(c.chat_id for c in api.calls) == Counter(d.telegram_chat_id for d in initial)  # each chat once


async def test_claims_exclude_each_other(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, engine, api: FakeTelegramApi
) -> None:
    """PostgreSQL: rows a transaction has claimed but not committed are skipped (SKIP LOCKED), not waited
    for. SQLite has one writer at a time: a claim is atomic, and a claimed row is not claimed again."""
    settings = channel_settings(database_url, api, None)
    await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3), areas=ALL_AREAS))
    lease = clock.now() + timedelta(minutes=5)
    if engine.dialect.name == "postgresql":
        async with sessionmaker() as first, sessionmaker() as second:
            mine = await QueueRepository(first).claim(clock.now(), 20, ["telegram"], lease)  # not committed
            theirs = await asyncio.wait_for(QueueRepository(second).claim(clock.now(), 20, ["telegram"], lease), 5)
            assert len(mine) == len(theirs) == 20
            mine_ids, priorities = {d.id for d in mine}, [d.priority for d in mine]
            assert not mine_ids & {d.id for d in theirs}
            await second.commit()
            await first.rollback()
        async with session_scope(sessionmaker) as session:  # the rolled-back claim is free again
            again = await QueueRepository(session).claim(clock.now(), 20, ["telegram"], lease)
        assert {d.id for d in again} == mine_ids
    else:
        async with session_scope(sessionmaker) as session:
            mine = await QueueRepository(session).claim(clock.now(), 20, ["telegram"], lease)
        async with session_scope(sessionmaker) as session:
            theirs = await QueueRepository(session).claim(clock.now(), 1000, ["telegram"], lease)
        assert len(mine) == 20 and len(theirs) > 20
        assert not {d.id for d in mine} & {d.id for d in theirs}
        async with session_scope(sessionmaker) as session:
            assert await QueueRepository(session).claim(clock.now(), 1000, ["telegram"], lease) == []
        priorities = [d.priority for d in mine]
    assert priorities == sorted(priorities, reverse=True) and priorities[0] > 0  # key accounts first


async def account_of(sessionmaker, identity_id: int) -> str:  # type: ignore[no-untyped-def]
    from core.models import IdentityAccount, UtilityAccount

    async with sessionmaker() as session:
        number = await session.scalar(
            select(UtilityAccount.account_number)
            .join(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .where(IdentityAccount.identity_id == identity_id)
        )
    assert number is not None
    return str(number)


# ---------------------------------------------------------------------------- promises kept at send time


async def test_a_worker_back_ten_minutes_before_the_outage_sends_only_the_final_confirmation_marked_late(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    start = clock.now() + timedelta(days=16)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    clock.set(start - timedelta(days=15))
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).stage_starter.start_due_stages(session)
    api.fail_next("sendMessage", 500, times=1000)  # the 15-day notices fail and wait for a retry...
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    assert {d.status for d in await rows(sessionmaker, outage_id, stage="15d")} == {"pending"}
    api._failures.clear()  # (the fake's queue of failures: Telegram is fine again)
    calls = len(api.calls)

    clock.set(start - timedelta(minutes=10))  # ...and the worker is down until 10 minutes before the outage
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings).stage_starter.start_due_stages(session)
    await dispatcher.run_once()
    by_stage = Counter((d.stage, d.status) for d in await rows(sessionmaker, outage_id))
    assert {stage for stage, status in by_stage if status == "sent"} == {"30m"}
    assert {status for stage, status in by_stage if stage in ("15d", "7d")} == {"skipped"}
    final = await rows(sessionmaker, outage_id, stage="30m")
    assert all((d.last_error or "").startswith("late: sent 20 min") for d in final)
    assert len(api.calls) - calls == len(final)  # nothing but the final confirmation
    async with sessionmaker() as session:  # the deliveries API shows it
        page = await core_services(clock, settings).outage_views.deliveries(session, outage_id, stage="30m")
    assert {i.last_error for i in page.items} == {"late: sent 20 min after its due time"}


async def test_nothing_regular_goes_out_once_the_outage_has_started(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    start = clock.now() + timedelta(minutes=40)
    outage_id = await publish(sessionmaker, clock, settings, draft(start))
    clock.set(start + timedelta(seconds=1))
    await make_dispatcher(settings).run_once()
    assert not api.calls
    assert {(d.status, d.last_error) for d in await rows(sessionmaker, outage_id)} == {("skipped", "deadline passed")}


async def test_a_residential_advance_notice_claimed_in_quiet_hours_waits_until_they_end(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    clock.set(local(2026, 12, 1, 21, 50))
    outage_id = await publish(sessionmaker, clock, settings, draft(local(2026, 12, 5, 9)))
    clock.set(local(2026, 12, 1, 23, 0))  # the worker was busy: the initial notices are claimed at 23:00
    dispatcher = make_dispatcher(settings)
    await dispatcher.run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    residential = [d for d in initial if d.tier == Tier.EVERYONE]
    assert residential and {(d.status, d.attempts, d.last_error) for d in residential} == {
        (
            "pending",
            0,
            "quiet hours",
        )
    }
    assert {d.next_attempt_at for d in residential} == {local(2026, 12, 2, 7)}
    assert {d.status for d in initial if d.tier == Tier.KEY_ACCOUNT} == {"sent"}  # key accounts are told anyway
    clock.set(local(2026, 12, 2, 7))
    await dispatcher.run_once()
    assert {d.status for d in await rows(sessionmaker, outage_id, stage="initial")} == {"sent"}


async def test_a_401_pauses_the_channel_once_without_using_up_attempts(
    world: None,
    sessionmaker,
    clock: FrozenClock,
    database_url: str,
    api: FakeTelegramApi,
    make_dispatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = channel_settings(database_url, api, None, notice_concurrency=4, notice_channel_pause_seconds=60)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    api.fail_next("sendMessage", 401, times=1000)
    dispatcher = make_dispatcher(settings)
    with caplog.at_level(logging.ERROR, logger="gridtalk.notices.dispatcher"):
        await dispatcher.run_once()
        await dispatcher.run_once()  # still paused: nothing is claimed
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "paused" in errors[0].getMessage()
    assert len(api.calls) <= 4  # the sends in flight when it came, no more
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {(d.status, d.attempts) for d in initial} == {("pending", 0)}
    assert {d.next_attempt_at for d in initial} == {clock.now() + timedelta(seconds=60)}

    api._failures.clear()  # the operator fixed the token
    clock.advance(timedelta(seconds=60))
    await dispatcher.run_once()
    initial = await rows(sessionmaker, outage_id, stage="initial")
    assert {(d.status, d.attempts) for d in initial} == {("sent", 1)}


class FlakyLimiter(TelegramLimiter):
    """The shared limiter with its Redis gone for one chat's sends."""

    def __init__(self, broken_chat: int) -> None:
        super().__init__(1000, 0.0)
        self.broken_chat = broken_chat

    async def acquire(self, chat: Hashable) -> None:
        if chat == self.broken_chat:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await super().acquire(chat)


async def test_a_limiter_failure_is_contained_to_the_row(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:
    settings = channel_settings(database_url, api, None)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    broken = next(d.telegram_chat_id for d in await rows(sessionmaker, outage_id, channel="telegram"))
    assert broken is not None
    dispatcher = Dispatcher(
        sessionmaker,
        clock,
        settings,
        build_channels(settings),
        NoticeRenderer(Renderer(settings.timezone)),
        limiter=FlakyLimiter(broken),
    )
    try:
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
    initial = await rows(sessionmaker, outage_id, stage="initial", channel="telegram")
    [row] = [d for d in initial if d.telegram_chat_id == broken]
    assert (row.status, row.attempts) == ("pending", 0) and "limiter" in (row.last_error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > clock.now()
    assert {d.status for d in initial if d.id != row.id} == {"sent"}


# ------------------------------------------------------------------------------------------ exactly once


async def test_only_the_claim_that_holds_a_row_records_its_result(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:
    settings = channel_settings(database_url, api, None)
    await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))

    def result(token: str, status: str) -> dict[str, object]:
        return {
            "b_id": row.id,
            "b_token": token,
            "b_status": status,
            "b_next": None,
            "b_sent": clock.now(),
            "b_error": None,
            "b_attempts": 1,
        }

    async with session_scope(sessionmaker) as session:  # a slow worker's claim; its lease runs out
        [row] = await QueueRepository(session).claim(clock.now(), 1, ["telegram"], clock.now(), "a" * 32)
    clock.advance(timedelta(seconds=1))
    async with session_scope(sessionmaker) as session:  # another worker claims the row again
        [again] = await QueueRepository(session).claim(clock.now(), 1, ["telegram"], clock.now(), "b" * 32)
    assert again.id == row.id and again.claim_token == "b" * 32
    async with session_scope(sessionmaker) as session:  # the slow worker's result comes in: not its row any more
        await QueueRepository(session).record([result("a" * 32, "failed")])
    async with sessionmaker() as session:
        stored = await session.get(NoticeDelivery, row.id)
        assert stored is not None and (stored.status, stored.claim_token) == ("sending", "b" * 32)
    async with session_scope(sessionmaker) as session:
        await QueueRepository(session).record([result("b" * 32, "sent")])
    async with sessionmaker() as session:
        stored = await session.get(NoticeDelivery, row.id)
        assert stored is not None and (stored.status, stored.claim_token) == ("sent", None)


class LeaseWatcher:
    """A channel answering the first send with a long 429, then noting the leases of the rows still held."""

    def __init__(self, sessionmaker) -> None:  # type: ignore[no-untyped-def]
        self.sessionmaker = sessionmaker
        self.sends = 0
        self.leases: list[datetime] = []

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        self.sends += 1
        if self.sends == 1:
            raise RetryAfter(1000)
        if self.sends == 2:
            async with self.sessionmaker() as session:
                self.leases = list(
                    await session.scalars(
                        select(NoticeDelivery.next_attempt_at).where(NoticeDelivery.status == "sending")
                    )
                )

    async def aclose(self) -> None:
        pass


class NoWait(TelegramLimiter):
    async def pause(self, retry_after: float) -> None:  # (the test does not wait 1000 s)
        pass


async def test_a_long_429_renews_the_lease_of_the_rows_waiting_behind_it(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:
    settings = channel_settings(database_url, api, None, notice_lease_seconds=60, notice_concurrency=1)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    watcher = LeaseWatcher(sessionmaker)
    dispatcher = Dispatcher(
        sessionmaker,
        clock,
        settings,
        {"telegram": watcher},
        NoticeRenderer(Renderer(settings.timezone)),
        limiter=NoWait(1000, 0.0),
    )
    await dispatcher.run_once()
    assert watcher.leases and min(watcher.leases) >= clock.now() + timedelta(seconds=1000 + 60)
    initial = await rows(sessionmaker, outage_id, stage="initial", channel="telegram")
    assert Counter(d.status for d in initial) == {"sent": len(initial) - 1, "pending": 1}


class SlowFlakyTelegram:
    """A slow Telegram that answers some sends with a 429; counts what it accepted, per chat."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.calls = 0

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        self.calls += 1
        await asyncio.sleep(random.uniform(0.001, 0.02))
        if random.random() < 0.08:
            raise RetryAfter(0.05)
        self.accepted[address] += 1

    async def aclose(self) -> None:
        pass


async def test_two_dispatchers_send_hundreds_of_rows_through_slow_sends_and_429s_exactly_once(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi
) -> None:
    settings = channel_settings(
        database_url, api, None, notice_batch_size=25, notice_concurrency=10, notice_lease_seconds=10
    )
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3), areas=ALL_AREAS))
    async with session_scope(sessionmaker) as session:  # a few hundred more residential rows
        template = (await rows(sessionmaker, outage_id, stage="initial", tier=Tier.EVERYONE))[0]
        for n in range(300):
            session.add(
                NoticeDelivery(
                    subject_kind=template.subject_kind,
                    subject_id=template.subject_id,
                    outage_id=outage_id,
                    tier=Tier.EVERYONE,
                    contact_key=f"identity:{900_000 + n}",
                    segment=template.segment,
                    stage=template.stage,
                    channel="telegram",
                    address=str(800_000_000 + n),
                    telegram_chat_id=800_000_000 + n,
                    language=template.language,
                    due_at=template.due_at,
                    deadline_at=template.deadline_at,
                    status="pending",
                    next_attempt_at=clock.now(),
                    created_at=clock.now(),
                )
            )
    fake = SlowFlakyTelegram()
    made = [
        Dispatcher(sessionmaker, clock, settings, {"telegram": fake}, NoticeRenderer(Renderer(settings.timezone)))
        for _ in range(2)
    ]
    for _ in range(5):  # a 429 past the inline waits puts a row back for later: a few ticks
        await asyncio.gather(*(d.run_once() for d in made))
        clock.advance(timedelta(seconds=2))
    telegram = await rows(sessionmaker, outage_id, stage="initial", channel="telegram")
    assert len(telegram) > 300
    assert {d.status for d in telegram} == {"sent"}
    assert fake.accepted == Counter(d.address for d in telegram)  # every row once, none twice
    assert fake.calls > len(telegram)  # some 429s were answered


async def test_in_quiet_hours_an_initial_notice_that_cannot_wait_for_them_goes_now(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None)
    clock.set(local(2026, 12, 1, 23, 0))  # the outage starts at 06:00, before the quiet hours end
    outage_id = await publish(sessionmaker, clock, settings, draft(local(2026, 12, 2, 6)))
    await make_dispatcher(settings).run_once()
    assert {d.status for d in await rows(sessionmaker, outage_id, stage="initial")} == {"sent"}
