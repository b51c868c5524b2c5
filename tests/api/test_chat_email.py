"""A web chat customer who subscribes to outage notices gives an email address, proven by a code emailed to a
real SMTP server on loopback (aiosmtpd), over the web chat API: the code goes after the commit; wrong,
expired and spent codes, too many codes, a bad address, no email at all and no SMTP server each get their
answer in zh and en. A Telegram customer keeps Telegram."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.dialogue import MemoryStateBackend
from core.dialogue.service import build_conversations
from core.models import Identity, VerificationCode
from core.models.enums import ChatChannel, Language
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import Chat, demo_account, demo_nlu, load_demo_data
from tests.support.notices import SmtpServer
from tests.support.webchat import WebChat, start_chat

Maker = async_sessionmaker[AsyncSession]
SUBSCRIBE = {"zh": "停电提前告诉我", "en": "let me know before a power cut"}
UNSUBSCRIBE = {"zh": "别再推送了", "en": "stop sending me outage notifications"}
WORDS = {
    "zh": {
        "ask": "请输入您的邮箱地址",
        "invalid": "无法使用",
        "again": "这似乎不是邮箱地址",
        "sent": "验证码已发送到",
        "wrong": "验证码不正确",
        "left": "还可以尝试 4 次",
        "verified": "已确认",
        "shown": "将发送到邮箱",
        "spent": "已失效",
        "expired": "已过期",
        "too_many": "次数过多",
        "declined": "不会从这里收到停电通知",
        "no_smtp": "尚未配置邮件服务器",
        "subject": "停电通知邮箱验证码",
        "unsubscribed": "已为您退订",
    },
    "en": {
        "ask": "Please type your email address",
        "invalid": "cannot use that email address",
        "again": "does not look like an email address",
        "sent": "I have sent a 6-digit code to",
        "wrong": "That code is not right",
        "left": "4 tries left",
        "verified": "is confirmed",
        "shown": "by email, at",
        "spent": "no longer works",
        "expired": "has expired",
        "too_many": "too many codes",
        "declined": "you will not get outage notices from here",
        "no_smtp": "no mail server is set up",
        "subject": "Your verification code for outage notices",
        "unsubscribed": "You will not receive outage notices",
    },
}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def mail_settings(settings: Settings, smtp: SmtpServer | None) -> Settings:
    if smtp is None:
        return settings
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none", "smtp_from": "n@grid.test"}
    )


@pytest.fixture
async def http(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker, smtp: SmtpServer
) -> AsyncIterator[httpx.AsyncClient]:
    await load_demo_data(sessionmaker, clock)
    nlu = demo_nlu(**{text: "subscribe_notices" for text in SUBSCRIBE.values()})
    nlu.intents.update({text: "unsubscribe_notices" for text in UNSUBSCRIBE.values()})
    app = create_app(mail_settings(settings, smtp), clock=clock, nlu=nlu)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def identity_of(sessionmaker: Maker, chat: WebChat) -> Identity:
    async with sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.external_id == chat.session_id))
        assert identity is not None
        return identity


def code_in(smtp: SmtpServer, address: str, index: int = -1) -> str:
    body = smtp.to(address)[index].get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"\b(\d{6})\b", body.get_content())
    assert found, body.get_content()
    return found.group(1)


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_web_chat_customer_proves_an_email_and_is_subscribed_by_it(
    http: httpx.AsyncClient, sessionmaker: Maker, smtp: SmtpServer, language: str
) -> None:
    words = WORDS[language]
    account = await demo_account(sessionmaker, feeder="BJ-F01", skip=5)
    chat = await start_chat(http, language)
    await chat.send(account.number)
    await chat.send(account.last4)

    asked = await chat.send(SUBSCRIBE[language])
    assert words["ask"] in asked and "Telegram" in asked and chat.payloads == ["email:skip", "cancel"]
    assert not (await identity_of(sessionmaker, chat)).subscribed_notices  # nothing reaches them yet
    assert words["again"] in await chat.send("ok")
    assert words["invalid"] in await chat.send("me@home")

    sent = await chat.send("Mine is Wang.Li@Example.COM please")
    assert words["sent"] in sent and "Wang.Li@example.com" in sent
    assert chat.payloads == ["email:resend", "email:change", "cancel"]
    [mail] = smtp.to("Wang.Li@example.com")  # sent once the turn was committed, before the answer came back
    assert mail["Subject"] == words["subject"] and mail["From"] == "n@grid.test"
    code = code_in(smtp, "Wang.Li@example.com")
    async with sessionmaker() as session:  # kept as a hash only
        [row] = list(await session.scalars(select(VerificationCode)))
        assert code not in row.code_hash and row.target == "Wang.Li@example.com"

    wrong = "000000" if code != "000000" else "111111"
    replied = await chat.send(wrong)
    assert words["wrong"] in replied and words["left"] in replied
    assert words["verified"] in await chat.send(f"{code[:3]} {code[3:]}")  # typed with a space: still the code
    identity = await identity_of(sessionmaker, chat)
    assert identity.email == "Wang.Li@example.com" and identity.email_verified_at is not None
    assert identity.subscribed_notices

    shown = await chat.send(SUBSCRIBE[language])  # the verified address is shown, no new code
    assert words["shown"] in shown and "Wang.Li@example.com" in shown and "email:change" in chat.payloads
    assert len(smtp.messages) == 1
    assert words["unsubscribed"] in await chat.send(UNSUBSCRIBE[language])
    assert not (await identity_of(sessionmaker, chat)).subscribed_notices


async def test_expired_and_spent_codes_a_new_code_and_too_many_codes(
    http: httpx.AsyncClient, sessionmaker: Maker, smtp: SmtpServer, clock: FrozenClock
) -> None:
    words = WORDS["en"]
    chat = await start_chat(http, "en")
    await chat.send(SUBSCRIBE["en"])
    await chat.send("a@grid.test")
    first = code_in(smtp, "a@grid.test")
    clock.advance(timedelta(minutes=11))
    assert words["expired"] in await chat.send(first) and "email:resend" in chat.payloads

    assert words["sent"] in await chat.send(payload="email:resend")
    second = code_in(smtp, "a@grid.test")
    wrong = "000000" if second != "000000" else "111111"
    for _ in range(4):
        assert words["wrong"] in await chat.send(wrong)
    assert words["spent"] in await chat.send(wrong)
    assert words["expired"] in await chat.send(second)  # a spent code does not come back to life
    assert (await identity_of(sessionmaker, chat)).email_verified_at is None

    await chat.send(payload="email:change")
    for n in range(3):  # 2 codes so far; the limit is 5 an hour
        assert words["sent"] in await chat.send(f"b{n}@grid.test")
    assert words["too_many"] in await chat.send("c@grid.test")
    assert len(smtp.messages) == 5
    clock.advance(timedelta(hours=1, minutes=1))
    await chat.send(SUBSCRIBE["en"])
    assert words["sent"] in await chat.send("c@grid.test")


async def test_no_email_is_told_plainly_which_channel_would_reach_them(
    http: httpx.AsyncClient, sessionmaker: Maker, smtp: SmtpServer
) -> None:
    chat = await start_chat(http, "zh")
    await chat.send(SUBSCRIBE["zh"])
    declined = await chat.send(payload="email:skip")
    assert WORDS["zh"]["declined"] in declined and "Telegram" in declined
    assert not (await identity_of(sessionmaker, chat)).subscribed_notices and smtp.messages == []


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_without_an_smtp_server_the_customer_is_told_so(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, language: str
) -> None:
    nlu = FakeNlu({SUBSCRIBE[language]: "subscribe_notices"})
    app = create_app(settings, clock=clock, nlu=nlu)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        chat = await start_chat(http, language)
        answer = await chat.send(SUBSCRIBE[language])
    assert WORDS[language]["no_smtp"] in answer and "Telegram" in answer
    assert not (await identity_of(sessionmaker, chat)).subscribed_notices


async def test_a_telegram_customer_keeps_telegram(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> None:
    service = build_conversations(settings, clock, FakeNlu({"停电提前告诉我": "subscribe_notices"}))
    async with session_scope(sessionmaker) as session:
        identity = Identity(
            channel=ChatChannel.TELEGRAM,
            external_id="5550001",
            telegram_chat_id=5550001,
            language=Language.ZH,
            created_at=clock.now(),
        )
        session.add(identity)
    chat = Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))
    text = await chat.text("停电提前告诉我")
    assert "已为您订阅停电通知" in text and "邮箱" not in text and chat.payloads == ["bind"]
    async with sessionmaker() as session:
        stored = await session.get(Identity, identity.id)
        assert stored is not None and stored.subscribed_notices and stored.email is None
