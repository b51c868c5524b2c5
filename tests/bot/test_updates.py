"""Which Telegram updates the bot acts on, fed to the real Dispatcher (and POSTed to the webhook route), with
replies going over real HTTP to the fake Bot API:

- a customer who blocked the bot and comes back is reachable again (their message, or unblocking, lifts the
  block on the identity and on a key-account contact of that chat); blocking marks them at once;
- only their private chat is the chat notices go to: a message or a button in a group never moves it;
- every update kind the bot does not handle is ignored quietly: no error, no reply, never a word into a group
  (a non-text message in the private chat gets the usual "text only" reply);
- binding by a code sent by SMS works through Telegram, and the SMS leaves only after the commit.
"""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiogram.types import Update
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from bot.app import TelegramApp, build_telegram
from core.clock import FrozenClock
from core.config import Settings
from core.dialogue import build_conversations
from core.dialogue.service import ConversationService, TurnResult
from core.models import Identity, KeyAccountContact, UtilityAccount, VerificationCode
from core.notices.audiences import AudienceRepository
from core.outages.facts import Scope
from core.templating import Renderer
from tests.fakes.sms_gateway import SmsGateway
from tests.fakes.telegram_api import Call, FakeTelegramApi
from tests.support.dialogue import demo_account, demo_nlu, load_demo_data

TOKEN = "123456:TEST-token"
SECRET = "s3cret-token_value"
BOT = {"id": 42, "is_bot": True, "first_name": "gridtalk", "username": "gridtalk_bot"}
GROUP, CHANNEL = -100_123, -100_999
DATE = 1_764_460_800
Maker = async_sessionmaker[AsyncSession]
_ids = itertools.count(1000)


def person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "客户", "language_code": "zh-hans"}


def private(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "客户"}


GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "小区业主群"}
CHANNEL_CHAT = {"id": CHANNEL, "type": "channel", "title": "停电公告"}


def message(user_id: int, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
    return {"message_id": next(_ids), "date": DATE, "chat": chat, "from": person(user_id), **content}


def raw(kind: str, body: Any) -> dict[str, Any]:
    return {"update_id": next(_ids), kind: body}


def member_change(user_id: int, chat: dict[str, Any], who: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {
        "chat": chat,
        "from": person(user_id),
        "date": DATE,
        "old_chat_member": chat_member(old, who),
        "new_chat_member": chat_member(new, who),
    }


def chat_member(status: str, who: dict[str, Any]) -> dict[str, Any]:
    return {"status": status, "user": who, **({"until_date": 0} if status == "kicked" else {})}


def ignored_updates(uid: int) -> dict[str, dict[str, Any]]:
    """Update kinds the bot does not act on, from user `uid` (or about a group/channel they are in)."""
    reaction = {"type": "emoji", "emoji": "👍"}
    poll = {
        "id": "p1",
        "question": "停电了吗？",
        "options": [{"persistent_id": "o1", "text": "是", "voter_count": 0}],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": False,
        "members_only": False,
    }
    return {
        "edited private message": raw("edited_message", {**message(uid, private(uid), text="电费"), "edit_date": DATE}),
        "edited group message": raw("edited_message", {**message(uid, GROUP_CHAT, text="电费"), "edit_date": DATE}),
        "channel post": raw("channel_post", {"message_id": 1, "date": DATE, "chat": CHANNEL_CHAT, "text": "公告"}),
        "edited channel post": raw(
            "edited_channel_post", {"message_id": 1, "date": DATE, "chat": CHANNEL_CHAT, "text": "公告", "edit_date": 1}
        ),
        "inline query": raw("inline_query", {"id": "q1", "from": person(uid), "query": "电费", "offset": ""}),
        "chosen inline result": raw("chosen_inline_result", {"result_id": "r", "from": person(uid), "query": "电费"}),
        "button on an inline message": raw(
            "callback_query",
            {"id": "c1", "from": person(uid), "chat_instance": "ci", "inline_message_id": "im1", "data": "lang:en"},
        ),
        "button in a group": raw(
            "callback_query",
            {
                "id": "c2",
                "from": person(uid),
                "chat_instance": "ci",
                "data": "lang:en",
                "message": {"message_id": 5, "date": DATE, "chat": GROUP_CHAT, "from": BOT, "text": "菜单"},
            },
        ),
        "poll": raw("poll", poll),
        "poll answer": raw(
            "poll_answer", {"poll_id": "p1", "user": person(uid), "option_ids": [0], "option_persistent_ids": ["o1"]}
        ),
        "reaction in the private chat": raw(
            "message_reaction",
            {
                "chat": private(uid),
                "message_id": 3,
                "user": person(uid),
                "date": DATE,
                "old_reaction": [],
                "new_reaction": [reaction],
            },
        ),
        "reaction count in a group": raw(
            "message_reaction_count",
            {"chat": GROUP_CHAT, "message_id": 3, "date": DATE, "reactions": [{"type": reaction, "total_count": 2}]},
        ),
        "join request": raw(
            "chat_join_request", {"chat": GROUP_CHAT, "from": person(uid), "user_chat_id": uid, "date": DATE}
        ),
        "someone joins a group": raw("chat_member", member_change(uid, GROUP_CHAT, person(uid), "left", "member")),
        "the bot is added to a group": raw("my_chat_member", member_change(uid, GROUP_CHAT, BOT, "left", "member")),
        "text in a group": raw("message", message(uid, GROUP_CHAT, text="我家停电了，电费多少")),
        "command in a group": raw(
            "message",
            message(uid, GROUP_CHAT, text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
        ),
        "sticker in a group": raw("message", message(uid, GROUP_CHAT, sticker=sticker())),
        "new members in a group": raw("message", message(uid, GROUP_CHAT, new_chat_members=[person(uid + 1)])),
        "pre-checkout query": raw(
            "pre_checkout_query",
            {"id": "pc", "from": person(uid), "currency": "CNY", "total_amount": 100, "invoice_payload": "x"},
        ),
        "a kind newer than aiogram": raw("some_future_update", {"chat": private(uid), "from": person(uid)}),
    }


def sticker() -> dict[str, Any]:
    return {
        "file_id": "f",
        "file_unique_id": "u",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }


def not_text(uid: int) -> dict[str, dict[str, Any]]:
    """Private messages that are not text: answered with the "text only" reply."""
    return {
        "sticker": raw("message", message(uid, private(uid), sticker=sticker())),
        "photo": raw(
            "message",
            message(uid, private(uid), photo=[{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90}]),
        ),
        "location": raw("message", message(uid, private(uid), location={"latitude": 30.2, "longitude": 120.2})),
        "contact": raw(
            "message", message(uid, private(uid), contact={"phone_number": "13812345678", "first_name": "A"})
        ),
    }


@dataclass
class Bot:
    api: FakeTelegramApi
    app: TelegramApp

    async def feed(self, body: dict[str, Any]) -> list[Call]:
        before = len(self.api.calls)
        await self.app.dispatcher.feed_update(self.app.bot, Update.model_validate(body, context={"bot": self.app.bot}))
        return self.api.calls[before:]

    async def say(self, uid: int, text: str) -> str:
        calls = await self.feed(raw("message", message(uid, private(uid), text=text)))
        return "\n".join(c.text for c in calls if c.method == "sendMessage")

    async def press(self, uid: int, data: str) -> str:
        body = {
            "id": str(next(_ids)),
            "from": person(uid),
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": 5, "date": DATE, "chat": private(uid), "from": BOT, "text": "菜单"},
        }
        calls = await self.feed(raw("callback_query", body))
        return "\n".join(c.text for c in calls if c.method == "sendMessage")

    async def member(self, uid: int, old: str, new: str) -> list[Call]:
        return await self.feed(raw("my_chat_member", member_change(uid, private(uid), BOT, old, new)))


async def make_bot(settings: Settings, clock: FrozenClock, sessionmaker: Maker, api: FakeTelegramApi) -> TelegramApp:
    settings = settings.model_copy(
        update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": api.base_url, "chat_rate_limit": 100}
    )
    renderer = Renderer(settings.timezone)
    conversations = build_conversations(settings, clock, demo_nlu(), renderer=renderer)
    return build_telegram(
        settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
    )


@pytest.fixture
async def bot(settings: Settings, clock: FrozenClock, sessionmaker: Maker) -> AsyncIterator[Bot]:
    await load_demo_data(sessionmaker, clock)
    async with FakeTelegramApi() as api:
        app = await make_bot(settings, clock, sessionmaker, api)
        try:
            yield Bot(api, app)
        finally:
            await app.aclose()


async def identity_of(sessionmaker: Maker, uid: int) -> Identity | None:
    async with sessionmaker() as session:
        return await session.scalar(select(Identity).where(Identity.external_id == str(uid)))


async def a_contact_in_chat(sessionmaker: Maker, chat_id: int, blocked_at: datetime | None) -> int:
    """A demo key-account contact, now reached in Telegram chat `chat_id`."""
    async with sessionmaker() as session, session.begin():
        contact = await session.scalar(select(KeyAccountContact).order_by(KeyAccountContact.id).limit(1))
        assert contact is not None
        contact.telegram_chat_id = chat_id
        contact.telegram_blocked_at = blocked_at
        return contact.id


async def contact_blocked_at(sessionmaker: Maker, contact_id: int) -> datetime | None:
    async with sessionmaker() as session:
        contact = await session.get(KeyAccountContact, contact_id)
        assert contact is not None
        return contact.telegram_blocked_at


# ------------------------------------------------------------------ blocked, unblocked, and the notice chat


async def test_a_customer_who_comes_back_gets_notices_again(bot: Bot, sessionmaker: Maker, clock: FrozenClock) -> None:
    uid = 910_001
    account = await demo_account(sessionmaker, skip=7)
    assert "供电服务助手" in await bot.say(uid, "/start")
    async with sessionmaker() as session, session.begin():  # a notice was refused with a 403 a while ago
        await session.execute(
            update(Identity).where(Identity.external_id == str(uid)).values(blocked_at=clock.now() - timedelta(days=3))
        )
    contact = await a_contact_in_chat(sessionmaker, uid, clock.now() - timedelta(days=3))

    assert "后四位" in await bot.say(uid, f"/bind {account.number}")  # a message: they have not blocked us
    identity = await identity_of(sessionmaker, uid)
    assert identity is not None and identity.blocked_at is None and identity.telegram_chat_id == uid
    assert await contact_blocked_at(sessionmaker, contact) is None
    assert "验证通过" in await bot.say(uid, account.last4)
    assert "订阅" in await bot.press(uid, "intent:subscribe_notices")
    async with sessionmaker() as session:
        audience = await AudienceRepository(session).subscribed_identities(Scope.of((account.area_code,), (), ()))
    assert [(row.id, row.telegram_chat_id) for row in audience if row.id == identity.id] == [(identity.id, uid)]


async def test_blocking_and_unblocking_the_bot(bot: Bot, sessionmaker: Maker, clock: FrozenClock) -> None:
    uid = 910_002
    await bot.say(uid, "/start")
    contact = await a_contact_in_chat(sessionmaker, uid, None)

    assert await bot.member(uid, "member", "kicked") == []  # blocked: marked at once, nothing said
    identity = await identity_of(sessionmaker, uid)
    assert identity is not None and identity.blocked_at == clock.now()
    assert await contact_blocked_at(sessionmaker, contact) == clock.now()

    clock.advance(timedelta(hours=1))
    assert await bot.member(uid, "kicked", "member") == []  # unblocked (Restart): reachable again
    identity = await identity_of(sessionmaker, uid)
    assert identity is not None and identity.blocked_at is None
    assert await contact_blocked_at(sessionmaker, contact) is None

    await bot.member(910_003, "member", "kicked")  # somebody who never wrote: nothing to record
    assert await identity_of(sessionmaker, 910_003) is None
    # what Telegram is asked to send (allowed_updates of polling and of the webhook): blocks included
    assert set(bot.app.dispatcher.resolve_used_update_types()) == {"message", "callback_query", "my_chat_member"}


async def test_groups_never_move_the_notice_chat(bot: Bot, sessionmaker: Maker, clock: FrozenClock) -> None:
    uid = 910_004
    await bot.say(uid, "/start")
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Identity).where(Identity.external_id == str(uid)).values(blocked_at=clock.now()))
    updates = ignored_updates(uid)
    for name in ("button in a group", "text in a group", "command in a group", "edited group message"):
        assert await bot.feed(updates[name]) == [], name
    identity = await identity_of(sessionmaker, uid)
    assert identity is not None and identity.telegram_chat_id == uid and identity.language == "zh"
    assert identity.blocked_at == clock.now()  # a group message says nothing about their private chat
    await bot.feed(ignored_updates(910_005)["button in a group"])
    assert await identity_of(sessionmaker, 910_005) is None  # seen only in a group: no identity at all


# ------------------------------------------------------------------ update kinds the bot does not handle


async def test_update_kinds_the_bot_does_not_handle_are_ignored(
    bot: Bot, sessionmaker: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    uid = 910_006
    await bot.say(uid, "/start")
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings():
        warnings.simplefilter("error")  # aiogram warns about unknown kinds: none reaches it
        for name, body in ignored_updates(uid).items():
            assert await bot.feed(body) == [], name
        for name, body in not_text(uid).items():  # (a photo is fetched first: getFile, then its download)
            [reply] = [c for c in await bot.feed(body) if c.method == "sendMessage"]
            assert reply.chat_id == uid and "只能看懂文字消息" in reply.text, name
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all(c.chat_id not in (GROUP, CHANNEL) for c in bot.api.calls)
    identity = await identity_of(sessionmaker, uid)
    assert identity is not None and identity.telegram_chat_id == uid and identity.language == "zh"
    assert await identity_of(sessionmaker, uid + 1) is None


async def test_the_webhook_answers_200_to_every_kind(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    uid = 910_007
    async with FakeTelegramApi() as api:
        hooked = settings.model_copy(
            update={
                "telegram_token": SecretStr(TOKEN),
                "telegram_api_base": api.base_url,
                "telegram_webhook_secret": SecretStr(SECRET),
            }
        )
        app = create_app(hooked, clock=clock, nlu=demo_nlu())
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=10) as http,
        ):
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            bodies = {**ignored_updates(uid), **not_text(uid)}
            with caplog.at_level(logging.INFO):
                for name, body in bodies.items():
                    response = await http.post("/telegram/webhook", json=body, headers=headers)
                    assert response.status_code == 200, (name, response.text)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    sent = [c for c in api.calls if c.method == "sendMessage"]
    assert [c.chat_id for c in sent] == [uid] * len(not_text(uid))
    assert all("只能看懂文字消息" in c.text for c in sent)


# ------------------------------------------------------------------ binding by a code sent by SMS


async def test_binding_by_sms_code_through_telegram(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker
) -> None:
    await load_demo_data(sessionmaker, clock)
    found = await demo_account(sessionmaker, skip=8)
    async with sessionmaker() as session:
        row = await session.get(UtilityAccount, found.id)
        assert row is not None
        phone = row.phone
    uid = 910_008
    async with SmsGateway() as gateway, FakeTelegramApi() as api:
        app = await make_bot(settings.model_copy(update={"sms_webhook_url": gateway.url}), clock, sessionmaker, api)
        bot = Bot(api, app)
        try:
            real: ConversationService = app.dispatcher["conversations"]

            class Failing:  # the turn fails after the dialogue ran: rolled back, so no SMS may leave
                idle_seconds = real.idle_seconds

                async def handle(self, *args: Any) -> TurnResult:
                    await real.handle(*args)
                    raise RuntimeError("the database went away")

            app.dispatcher["conversations"] = Failing()
            await bot.say(uid, f"/bind {found.number}")
            app.dispatcher["conversations"] = real
            async with sessionmaker() as session:
                assert list(await session.scalars(select(VerificationCode))) == []
            assert gateway.received == []

            reply = await bot.say(uid, f"/bind {found.number}")
            assert "已向户号" in reply and phone not in reply
            sms = await gateway.next_message()
            assert sms["to"] == phone and len(gateway.received) == 1
            code = re.search(r"验证码 (\d{6})", str(sms["text"]))
            assert code is not None
            assert "验证通过" in await bot.say(uid, code.group(1))
        finally:
            await app.aclose()
