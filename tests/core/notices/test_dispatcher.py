"""The outbox dispatcher against a fake Bot API server and a real SMTP server, both on loopback: what is
sent, in which order, and what a 429, a 5xx, a 403 or a crashed worker leads to."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Identity, KeyAccountContact, NoticeDelivery
from core.notices.channels import NoticeChannel
from core.notices.dispatcher import Dispatcher
from core.notices.planning import LEFT_AUDIENCE
from core.notices.render import NoticeRenderer, RenderedNotice
from core.notices.repository import OutboxRepository
from core.outages import service
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import (
    XH_CONTACT_CHATS,
    SmtpServer,
    channel_settings,
    draft,
    load_demo_world,
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


async def test_a_5xx_is_retried_later_with_backoff_and_gives_up_after_the_limit(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_max_attempts=2, notice_retry_base_seconds=10)
    async with sessionmaker() as session:
        identity = (await xh_identities(session))[0]
        chat = identity.telegram_chat_id
    data = draft(clock.now() + timedelta(days=3), areas=(), accounts=(await account_of(sessionmaker, identity.id),))
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

    clock.advance(timedelta(seconds=10))
    api.fail_next("sendMessage", 502)
    await dispatcher.run_once()
    [row] = await rows(sessionmaker, outage_id, stage="initial")
    assert (row.status, row.attempts) == ("failed", 2)
    assert [c.chat_id for c in api.calls] == [chat, chat] and not api.sent()

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
        await core_services(clock, settings).planner.start_due_stages(session)
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
        await core_services(clock, settings).planner.start_due_stages(session)
    later = {
        d.channel: d.status for d in await rows(sessionmaker, outage_id, stage="7d") if d.key_contact_id == contact.id
    }
    assert later == {"telegram": "cancelled", "email": "pending"}


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
        assert second_at - first_at >= 0.999  # a second apart, in the order they were due
        assert "计划停电通知" in first_text or "Planned power outage" in first_text
    assert len(api.sent()) == len(spy.starts)
    assert {d.status for d in await rows(sessionmaker, outage_id)} == {"sent"}


async def test_a_crashed_workers_claim_is_taken_over_when_its_lease_ends(
    world: None, sessionmaker, clock: FrozenClock, database_url: str, api: FakeTelegramApi, make_dispatcher
) -> None:
    settings = channel_settings(database_url, api, None, notice_lease_seconds=60)
    outage_id = await publish(sessionmaker, clock, settings, draft(clock.now() + timedelta(days=3)))
    async with session_scope(sessionmaker) as session:  # a worker claims a batch, then dies
        claimed = await OutboxRepository(session).claim(
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
            mine = await OutboxRepository(first).claim(clock.now(), 20, ["telegram"], lease)  # not committed
            theirs = await asyncio.wait_for(OutboxRepository(second).claim(clock.now(), 20, ["telegram"], lease), 5)
            assert len(mine) == len(theirs) == 20
            mine_ids, priorities = {d.id for d in mine}, [d.priority for d in mine]
            assert not mine_ids & {d.id for d in theirs}
            await second.commit()
            await first.rollback()
        async with session_scope(sessionmaker) as session:  # the rolled-back claim is free again
            again = await OutboxRepository(session).claim(clock.now(), 20, ["telegram"], lease)
        assert {d.id for d in again} == mine_ids
    else:
        async with session_scope(sessionmaker) as session:
            mine = await OutboxRepository(session).claim(clock.now(), 20, ["telegram"], lease)
        async with session_scope(sessionmaker) as session:
            theirs = await OutboxRepository(session).claim(clock.now(), 1000, ["telegram"], lease)
        assert len(mine) == 20 and len(theirs) > 20
        assert not {d.id for d in mine} & {d.id for d in theirs}
        async with session_scope(sessionmaker) as session:
            assert await OutboxRepository(session).claim(clock.now(), 1000, ["telegram"], lease) == []
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
