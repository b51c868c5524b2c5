"""The Telegram bot through aiogram: updates fed to the Dispatcher, replies sent over real HTTP to a fake Bot API."""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, Chat, Location, Message, Update, User
from pydantic import SecretStr
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import COMMANDS, TelegramApp, build_telegram, make_bot, make_dispatcher, make_storage, set_commands
from bot.state import DATA_KEY
from bot.states import FORM_STATES, BindForm, FaultForm
from core.clock import FrozenClock
from core.config import Settings
from core.dialogue import build_conversations
from core.dialogue.service import ConversationService, TurnResult
from core.models import FaultTicket, Identity
from core.models import Message as TranscriptMessage
from core.templating import Renderer, money
from tests.conftest import unavailable
from tests.fakes.nlu import FakeNlu
from tests.fakes.telegram_api import Call, FakeTelegramApi
from tests.support.dialogue import PHRASES, bills_of, demo_account, demo_nlu, load_demo_data

TOKEN = "123456:TEST-token"
Maker = async_sessionmaker[AsyncSession]
_ids = itertools.count(1)


@dataclass
class Harness:
    api: FakeTelegramApi
    app: TelegramApp
    nlu: FakeNlu
    settings: Settings

    async def feed(self, update: Update) -> list[Call]:
        before = len(self.api.calls)
        await self.app.dispatcher.feed_update(self.app.bot, update)
        return self.api.calls[before:]

    async def say(self, user: User, text: str, chat_type: str = "private") -> list[Call]:
        calls = await self.feed(message_update(user, text=text, chat_type=chat_type))
        return [c for c in calls if c.method == "sendMessage"]

    async def press(self, user: User, data: str) -> list[Call]:
        return await self.feed(
            Update(
                update_id=next(_ids),
                callback_query=CallbackQuery(
                    id=str(next(_ids)),
                    from_user=user,
                    chat_instance="ci",
                    data=data,
                    message=Message(
                        message_id=next(_ids), date=datetime.now(UTC), chat=Chat(id=user.id, type="private")
                    ),
                ),
            )
        )


def message_update(user: User, *, text: str | None = None, chat_type: str = "private", **content: object) -> Update:
    chat_id = user.id if chat_type == "private" else -100_123
    return Update(
        update_id=next(_ids),
        message=Message(
            message_id=next(_ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type=chat_type),
            from_user=user,
            text=text,
            **content,  # type: ignore[arg-type]
        ),
    )


def user(user_id: int, language_code: str | None = "zh-hans") -> User:
    return User(id=user_id, is_bot=False, first_name="客户", language_code=language_code)


def texts(calls: list[Call]) -> str:
    return "\n".join(c.text for c in calls if c.method == "sendMessage")


def tickets_of(customer: User) -> Select[tuple[FaultTicket]]:
    """The customer's own fault tickets (the demo's storm has tickets of its own Telegram customers)."""
    own = select(FaultTicket).join(Identity, Identity.id == FaultTicket.identity_id)
    return own.where(Identity.external_id == str(customer.id)).order_by(FaultTicket.id)


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
async def telegram(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[Harness]:
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": api.base_url, "chat_rate_limit": 50}
        )
        renderer = Renderer(settings.timezone)
        nlu = demo_nlu()
        conversations = build_conversations(settings, clock, nlu, renderer=renderer)
        app = build_telegram(
            settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
        )
        yield Harness(api, app, nlu, settings)
        await app.aclose()


async def test_must_show_through_telegram(
    telegram: Harness, sessionmaker: Maker, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01")
    latest = (await bills_of(sessionmaker, account.id))[0]
    customer = user(900_001)
    say = PHRASES["zh"]

    [welcome] = await telegram.say(customer, "/start")
    assert "供电服务助手" in welcome.text
    assert {"text": "查电费", "callback_data": "intent:bill_amount"} in welcome.buttons

    reply = texts(await telegram.say(customer, say["bill_amount"]))
    assert "先绑定户号" in reply and "¥" not in reply
    assert "后四位" in texts(await telegram.say(customer, account.number))
    assert "验证没有通过" in texts(await telegram.say(customer, "0000" if account.last4 != "0000" else "1111"))
    reply = texts(await telegram.say(customer, account.last4))
    assert "验证通过" in reply and money(latest.amount) in reply
    reply = texts(await telegram.say(customer, say["bill_amount"]))
    assert f"电费 {money(latest.amount)}" in reply
    reply = texts(await telegram.say(customer, say["bill_explain"]))
    assert all(money(line.amount) in reply for line in latest.lines) and f"合计 {money(latest.amount)}" in reply
    reply = texts(await telegram.say(customer, say["outage_status"]))
    assert "正在停电" in reply and "预计恢复供电" in reply
    calls = await telegram.say(customer, say["report_fault"])
    assert "安全第一" in calls[0].text
    async with sessionmaker() as session:
        [ticket] = list(await session.scalars(tickets_of(customer)))
        transcript = list(await session.scalars(select(TranscriptMessage)))
    assert ticket.urgent and ticket.reference in calls[-1].text
    assert {m.channel for m in transcript} == {"telegram"}
    assert all(c.chat_id == customer.id for c in telegram.api.sent())


async def test_english_from_the_telegram_language(telegram: Harness, sessionmaker: Maker, demo: None) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01", skip=2)
    customer = user(900_002, "en-GB")
    say = PHRASES["en"]
    assert "link your account first" in texts(await telegram.say(customer, say["bill_amount"]))
    await telegram.say(customer, account.number)
    assert "did not match" in texts(await telegram.say(customer, "0000" if account.last4 != "0000" else "1111"))
    assert "Verified" in texts(await telegram.say(customer, account.last4))
    latest = (await bills_of(sessionmaker, account.id))[0]
    reply = texts(await telegram.say(customer, say["bill_explain"]))
    assert f"Total {money(latest.amount)}" in reply and "Compared with the previous bill" in reply
    assert "power cut in the area" in texts(await telegram.say(customer, say["outage_status"]))
    calls = await telegram.say(customer, say["report_fault"])
    assert calls[0].text.startswith("⚠ Safety first") and "URGENT" in calls[-1].text


async def test_buttons_and_language_switch(telegram: Harness, sessionmaker: Maker, demo: None) -> None:
    customer = user(900_003)
    calls = await telegram.press(customer, "lang")
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert [b["callback_data"] for b in calls[1].buttons] == ["lang:zh", "lang:en"]
    calls = await telegram.press(customer, "lang:en")
    assert "I will answer in English" in texts(calls)
    async with sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.external_id == str(customer.id)))
    assert identity is not None and identity.language == "en" and identity.telegram_chat_id == customer.id
    assert "bill" in texts(await telegram.say(customer, "/help")).lower()


async def test_the_binding_form_is_the_fsm_state(telegram: Harness, sessionmaker: Maker, demo: None) -> None:
    account = await demo_account(sessionmaker)
    customer = user(900_004)
    reply = texts(await telegram.say(customer, f"/bind {account.number}"))
    assert account.number in reply and "后四位" in reply
    key = StorageKey(bot_id=telegram.app.bot.id, chat_id=customer.id, user_id=customer.id)
    assert await telegram.app.dispatcher.storage.get_state(key) == BindForm.phone.state
    await telegram.say(customer, account.last4)
    assert await telegram.app.dispatcher.storage.get_state(key) is None
    assert BindForm.phone.state in FORM_STATES


async def test_group_chats_are_not_answered(telegram: Harness, demo: None) -> None:
    assert await telegram.say(user(900_005), PHRASES["zh"]["bill_amount"], chat_type="group") == []


async def test_messages_that_are_not_text(telegram: Harness, demo: None) -> None:
    customer = user(900_006)
    calls = await telegram.feed(message_update(customer, location=Location(latitude=30.2, longitude=120.2)))
    assert "只能看懂文字消息" in texts(calls)


async def test_throttling_answers_a_flood_with_one_polite_notice(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={
                "telegram_token": SecretStr(TOKEN),
                "telegram_api_base": api.base_url,
                "chat_rate_limit": 3,
                "chat_rate_window": 60,
            }
        )
        renderer = Renderer(settings.timezone)
        conversations = build_conversations(settings, clock, FakeNlu({"你好": "greet"}), renderer=renderer)
        app = build_telegram(
            settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
        )
        harness = Harness(api, app, FakeNlu(), settings)
        clock.set(clock.now().replace(second=0))
        customer, other = user(900_007), user(900_008)
        replies = [texts(await harness.say(customer, "你好")) for _ in range(6)]
        assert [("您好" in r, "太快" in r) for r in replies] == [(True, False)] * 3 + [(False, True)] + [
            (False, False)
        ] * 2
        assert "您好" in texts(await harness.say(other, "你好"))  # per user
        clock.advance(timedelta(seconds=60))
        assert "您好" in texts(await harness.say(customer, "你好"))  # a new window
        await app.aclose()
    async with sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.external_id == str(customer.id)))
        assert identity is not None
        inbound = list(await session.scalars(select(TranscriptMessage).where(TranscriptMessage.direction == "in")))
    assert len(inbound) == 3 + 1 + 1  # the dropped ones never reached the dialogue


async def test_commands_are_registered_in_chinese_and_english(telegram: Harness) -> None:
    await set_commands(telegram.app.bot, Renderer())
    calls = [c for c in telegram.api.calls if c.method == "setMyCommands"]
    assert [c.params.get("language_code") for c in calls] == [None, "zh", "en"]
    import json

    def commands(call: Call) -> dict[str, str]:
        raw = call.params["commands"]
        items = json.loads(raw) if isinstance(raw, str) else raw
        return {item["command"]: item["description"] for item in items}

    assert list(commands(calls[0])) == list(COMMANDS)
    assert commands(calls[1])["bind"] == "绑定户号" and commands(calls[0]) == commands(calls[1])
    assert commands(calls[2])["bind"] == "Link your account"


async def test_redis_fsm_state_survives_a_new_dispatcher(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    url = os.environ.get("GRIDTALK_TEST_REDIS_URL")
    if not url:
        unavailable("GRIDTALK_TEST_REDIS_URL is not set")
    account = await demo_account(sessionmaker)
    customer = user(900_000 + uuid.uuid4().int % 99_999)
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": api.base_url, "redis_url": url}
        )
        renderer = Renderer(settings.timezone)
        conversations = build_conversations(settings, clock, demo_nlu(), renderer=renderer)
        first = build_telegram(
            settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
        )
        harness = Harness(api, first, FakeNlu(), settings)
        await harness.say(customer, f"/bind {account.number}")
        await first.aclose()  # the bot restarts (or another api replica takes the next update)

        storage, isolation, counter = make_storage(settings)
        second = TelegramApp(
            make_bot(settings),
            make_dispatcher(
                settings,
                sessionmaker=sessionmaker,
                conversations=conversations,
                clock=clock,
                renderer=renderer,
                storage=storage,
                isolation=isolation,
                throttle=counter,
            ),
        )
        harness.app = second
        key = StorageKey(bot_id=second.bot.id, chat_id=customer.id, user_id=customer.id)
        try:
            assert await second.dispatcher.storage.get_state(key) == BindForm.phone.state
            assert "验证通过" in texts(await harness.say(customer, account.last4))
        finally:
            await second.dispatcher.storage.set_state(key, None)
            await second.dispatcher.storage.set_data(key, {})
            await second.aclose()


async def test_final_confirmation_buttons_and_free_text_through_telegram(
    telegram: Harness, sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    """A key-account contact presses Confirm on the T-30m notice; a resident says 已收到; Problem escalates."""
    from sqlalchemy import update

    from core.db import session_scope
    from core.models import Escalation, NoticeDelivery
    from tests.support.notices import draft, load_demo_world
    from tests.support.services import core_services

    await load_demo_world(sessionmaker, clock.now())
    notice_settings = settings.model_copy(update={"telegram_token": SecretStr(TOKEN), "smtp_host": "127.0.0.1"})
    async with session_scope(sessionmaker) as session:
        outages = core_services(clock, notice_settings).outages
        outage = await outages.create(session, draft(clock.now() + timedelta(minutes=20)), actor_id=None)
        await outages.publish(session, outage.id, actor_id=None)
        await session.flush()
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage.id)
            .values(status="sent", sent_at=clock.now())
        )
    async with sessionmaker() as session:
        finals = (
            await session.scalars(
                select(NoticeDelivery)
                .where(
                    NoticeDelivery.outage_id == outage.id,
                    NoticeDelivery.stage == "30m",
                    NoticeDelivery.channel == "telegram",
                )
                .order_by(NoticeDelivery.id)
            )
        ).all()
    key = [d for d in finals if d.segment == "key_account"]
    residential = [d for d in finals if d.segment == "residential"]
    first, second, third = key[0], residential[0], residential[1]

    pressed = await telegram.press(user(first.telegram_chat_id), f"notice:ack:{first.id}")
    assert any(c.method == "sendMessage" for c in pressed)
    telegram.nlu.intents["已收到，已安排备用电源"] = "outage_ack"
    await telegram.say(user(second.telegram_chat_id), "已收到，已安排备用电源")
    await telegram.press(user(third.telegram_chat_id), f"notice:problem:{third.id}")

    async with sessionmaker() as session:
        acked = {d.id: d.acked_at for d in await session.scalars(select(NoticeDelivery))}
        escalation = await session.scalar(select(Escalation).where(Escalation.delivery_id == third.id))
    assert acked[first.id] is not None
    assert acked[second.id] is not None
    assert escalation is not None
    assert escalation.reason == "notice_problem"


# ------------------------------------------------------------------ replies go out after the commit


async def fault_form_at_the_hazard_question(telegram: Harness, customer: User) -> None:
    """The customer (not bound) reports a fault through Telegram, up to its last question."""
    telegram.nlu.intents["我要报修"] = "report_fault"
    assert "发生了什么" in texts(await telegram.say(customer, "我要报修"))
    assert "故障在哪里" in texts(await telegram.say(customer, "整栋楼都没电了"))
    assert "有没有危险" in texts(await telegram.say(customer, "文三路158号文华苑5幢"))


async def fsm_state(telegram: Harness, customer: User) -> tuple[str | None, dict[str, object]]:
    key = StorageKey(bot_id=telegram.app.bot.id, chat_id=customer.id, user_id=customer.id)
    storage = telegram.app.dispatcher.storage
    return await storage.get_state(key), dict((await storage.get_data(key)).get(DATA_KEY) or {})


async def test_a_reply_telegram_refuses_does_not_lose_the_fault_report(
    telegram: Harness, sessionmaker: Maker, demo: None, caplog: pytest.LogCaptureFixture
) -> None:
    customer = user(900_010)
    await fault_form_at_the_hazard_question(telegram, customer)
    telegram.api.fail_chat(customer.id, 500, times=1)  # the reply with the ticket's reference: a Bot API error
    with caplog.at_level(logging.INFO):
        calls = await telegram.say(customer, "没有")

    async with sessionmaker() as session:  # the turn is kept: ticket and transcript
        [ticket] = list(await session.scalars(tickets_of(customer)))
        transcript = list(await session.scalars(select(TranscriptMessage).order_by(TranscriptMessage.id)))
    assert (ticket.description, ticket.location, ticket.hazard) == ("整栋楼都没电了", "文三路158号文华苑5幢", False)
    [said, replied] = transcript[-2:]
    assert (said.direction, said.text) == ("in", "没有")
    assert replied.direction == "out" and ticket.reference in replied.text
    # the reply was tried once and refused; nothing else was sent (no error message: the turn did not fail)
    assert [(c.text, c.params.get("_ok")) for c in calls] == [(replied.text, None)]
    # the FSM state agrees with the database: the form is over
    state, data = await fsm_state(telegram, customer)
    assert state is None and data.get("form") is None and data.get("step") is None
    # the failure is logged, without the customer's words or the reply
    [failure] = [r for r in caplog.records if r.name == "gridtalk.bot" and r.levelno >= logging.WARNING]
    logged = failure.getMessage()
    assert f"sendMessage to chat {customer.id}" in logged and "TelegramServerError" in logged
    assert all(words not in r.getMessage() for r in caplog.records for words in ("文三路", "整栋楼", ticket.reference))

    # the next message is not taken as the (finished) form's answer: no second ticket
    reply = texts(await telegram.say(customer, "没有"))
    assert ticket.reference not in reply and "请回答" not in reply
    async with sessionmaker() as session:
        assert len(list(await session.scalars(tickets_of(customer)))) == 1


async def test_replies_are_sent_after_the_commit(telegram: Harness, sessionmaker: Maker, demo: None) -> None:
    customer = user(900_011)
    await fault_form_at_the_hazard_question(telegram, customer)
    seen: list[tuple[str, list[str], list[str]]] = []

    async def look_from_another_session(call: Call) -> None:
        async with sessionmaker() as session:
            tickets = [t.reference for t in await session.scalars(tickets_of(customer))]
            said = [m.text for m in await session.scalars(select(TranscriptMessage))]
        seen.append((call.text, tickets, said))

    telegram.api.on_call("sendMessage", look_from_another_session)
    [reply] = await telegram.say(customer, "没有")
    [(text, tickets, said)] = seen
    assert text == reply.text and len(tickets) == 1 and tickets[0] in text
    assert "没有" in said and text in said  # the customer's message and this very reply were committed


async def test_a_failed_turn_sends_nothing_and_keeps_the_form(
    telegram: Harness, sessionmaker: Maker, demo: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler raises after the dialogue ran: rolled back, no reply, the FSM state as it was; on_error
    answers the button and tells the customer."""
    customer = user(900_012)
    await fault_form_at_the_hazard_question(telegram, customer)
    before = await fsm_state(telegram, customer)
    real: ConversationService = telegram.app.dispatcher["conversations"]

    class Failing:
        idle_seconds = real.idle_seconds

        async def handle(self, *args: Any) -> TurnResult:
            await real.handle(*args)
            raise RuntimeError("the database went away")

    telegram.app.dispatcher["conversations"] = Failing()
    with caplog.at_level(logging.ERROR):
        calls = await telegram.press(customer, "fault:hazard:no")
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert "有没有危险" not in calls[1].text and "F2611" not in calls[1].text  # the error message, not a reply
    assert any("failed" in r.getMessage() for r in caplog.records)
    async with sessionmaker() as session:
        assert list(await session.scalars(tickets_of(customer))) == []
    assert await fsm_state(telegram, customer) == before and before[0] == FaultForm.hazard.state

    telegram.app.dispatcher["conversations"] = real  # it works again: the form goes on from where it was
    calls = await telegram.press(customer, "fault:hazard:no")
    async with sessionmaker() as session:
        [ticket] = list(await session.scalars(tickets_of(customer)))
    assert ticket.reference in texts(calls)


async def test_handoff_for_a_telegram_customer_through_the_fake_bot_api(
    telegram: Harness, sessionmaker: Maker, clock: FrozenClock, demo: None
) -> None:
    """转人工 in Telegram → the queue; the bot stops answering; the agent's reply and the resolution reach the
    customer's chat through the outbox (the worker's dispatcher, against the fake Bot API); the bot is back."""
    from sqlalchemy import select

    from core.db import session_scope
    from core.models import Escalation, StaffUser
    from core.notices.dispatcher import Dispatcher
    from core.staff.permissions import Access
    from gridtalk.worker import build_channels
    from tests.support.services import core_services

    telegram.nlu.intents.update({"转人工": "human_handoff", "我的电费算错了": "bill_explain", "你好": "greet"})
    customer = user(900_077)
    assert "您排在第 1 位" in texts(await telegram.say(customer, "转人工"))
    assert "已转给人工客服" in texts(await telegram.say(customer, "我的电费算错了"))
    services = core_services(clock, telegram.settings)
    async with session_scope(sessionmaker) as session:
        [escalation] = list(await session.scalars(select(Escalation)))
        agent = await session.scalar(select(StaffUser).where(StaffUser.username == "agent.li"))
        assert agent is not None and escalation.state == "pending"
        await services.escalations.reply(session, escalation.id, "您好，我是客服李娜。", agent, Access.ALL)
    assert texts(await telegram.say(customer, "好的")) == ""  # a person has it now
    dispatcher = Dispatcher(
        sessionmaker, clock, telegram.settings, build_channels(telegram.settings), services.notice_renderer
    )
    try:
        assert await dispatcher.run_once() == 1
        [reply] = [c for c in telegram.api.sent() if c.chat_id == customer.id and "李娜" in c.text]
        assert reply.text == "您好，我是客服李娜。"
        async with session_scope(sessionmaker) as session:
            await services.escalations.resolve(session, escalation.id, agent, Access.ALL)
        assert await dispatcher.run_once() == 2  # "back to the bot", then the satisfaction survey
        assert any("智能客服" in c.text for c in telegram.api.sent() if c.chat_id == customer.id)
    finally:
        await dispatcher.aclose()
    assert "您好" in texts(await telegram.say(customer, "你好"))  # the bot answers again
