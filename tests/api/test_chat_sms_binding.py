"""Binding by a code sent by SMS (GRIDTALK_SMS_WEBHOOK_URL set), over the web chat API, against a fake SMS
gateway on loopback (real HTTP): the code leaves after the commit, to the account's registered phone, and is
never shown or stored in clear; the phone is never shown; an unknown account number gets the same answer (and
no SMS); wrong codes are failed attempts under the limits per identity, per account number and per address."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.models import BindingAttempt, IdentityAccount, UtilityAccount, VerificationCode
from core.models import Message as TranscriptMessage
from tests.fakes.sms_gateway import SmsGateway
from tests.support.dialogue import demo_account, demo_nlu, load_demo_data
from tests.support.webchat import WebChat, start_chat

Maker = async_sessionmaker[AsyncSession]
UNKNOWN = "1000000001"  # no demo account has this number


@dataclass
class Web:
    http: httpx.AsyncClient
    gateway: SmsGateway


@dataclass
class Account:
    number: str
    phone: str


async def web_chat(settings: Settings, clock: FrozenClock, gateway: SmsGateway) -> AsyncIterator[Web]:
    settings = settings.model_copy(update={"sms_webhook_url": gateway.url, "notice_send_timeout": 5.0})
    app = create_app(settings, clock=clock, nlu=demo_nlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=10) as http,
    ):
        yield Web(http, gateway)


@pytest.fixture
async def web(settings: Settings, clock: FrozenClock, sessionmaker: Maker) -> AsyncIterator[Web]:
    await load_demo_data(sessionmaker, clock)
    async with SmsGateway() as gateway:
        async for web in web_chat(settings, clock, gateway):
            yield web


async def start(web: Web, language: str = "zh") -> WebChat:
    return await start_chat(web.http, language)


async def account(sessionmaker: Maker, skip: int = 0) -> Account:
    found = await demo_account(sessionmaker, skip=skip)
    async with sessionmaker() as session:
        row = await session.get(UtilityAccount, found.id)
        assert row is not None
        return Account(row.account_number, row.phone)


def code_of(sms: dict[str, object]) -> str:
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", str(sms["text"]))
    assert found, sms
    return found.group(1)


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def attempts(sessionmaker: Maker) -> list[tuple[str, bool, str | None]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(BindingAttempt).order_by(BindingAttempt.id))
        return [(a.account_number, a.succeeded, a.client) for a in rows]


async def test_a_code_by_sms_binds_the_account(web: Web, sessionmaker: Maker) -> None:
    mine = await account(sessionmaker)
    committed: list[int] = []

    async def look_from_another_session(body: dict[str, object]) -> None:
        async with sessionmaker() as session:  # the code was committed before the SMS left
            committed.append(len(list(await session.scalars(select(VerificationCode)))))

    web.gateway.on_post(look_from_another_session)
    chat = await start(web)
    asked = await chat.send(payload=f"bind:{mine.number}")
    assert f"已向户号 {mine.number} 登记的手机号发送了 6 位验证码" in asked and "10 分钟" in asked
    assert mine.phone not in asked and mine.phone[:3] not in asked.replace(mine.number, "")
    assert chat.payloads == [f"bind:{mine.number}", "cancel"]
    sms = await web.gateway.next_message()
    code = code_of(sms)
    assert sms["to"] == mine.phone and mine.number in str(sms["text"]) and "验证码" in str(sms["text"])
    assert committed == [1]

    assert "只发送短信里的 6 位验证码" in await chat.send(mine.phone[-4:])  # the last 4 digits are no proof now
    wrong = await chat.send(other(code))
    assert "验证码不正确" in wrong and "还可以尝试 4 次" in wrong
    bound = await chat.send(f"验证码 {code[:3]} {code[3:]}")
    assert "验证通过" in bound and mine.number in bound

    async with sessionmaker() as session:
        [stored] = list(await session.scalars(select(VerificationCode)))
        said = " ".join(m.text for m in await session.scalars(select(TranscriptMessage)))
        [binding] = list(
            await session.scalars(
                select(IdentityAccount)
                .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
                .where(UtilityAccount.account_number == mine.number)
            )
        )
    assert stored.target == mine.number and stored.used_at is not None and code not in stored.code_hash
    assert code not in said.replace(f"{code[:3]} {code[3:]}", "") and mine.phone not in said
    assert binding.is_current
    assert await attempts(sessionmaker) == [(mine.number, False, "127.0.0.1"), (mine.number, True, "127.0.0.1")]
    assert len(web.gateway.received) == 1


async def test_an_unknown_number_is_answered_alike_and_sent_nothing(web: Web, sessionmaker: Maker) -> None:
    mine = await account(sessionmaker, skip=1)
    known, unknown = await start(web, "en"), await start(web, "en")
    said_unknown = await unknown.send(payload=f"bind:{UNKNOWN}")
    said_known = await known.send(payload=f"bind:{mine.number}")
    assert said_unknown == said_known.replace(mine.number, UNKNOWN)
    assert "We have sent a 6-digit code by text message" in said_known and mine.phone not in said_known
    sms = await web.gateway.next_message()
    assert sms["to"] == mine.phone and len(web.gateway.received) == 1  # nothing for the unknown number
    wrong = await unknown.send(code_of(sms))  # even the code of another chat: no code can match
    assert "That code is not right" in wrong and "4 attempts left" in wrong
    assert (UNKNOWN, False, "127.0.0.1") in await attempts(sessionmaker)


async def test_wrong_codes_lock_per_identity_account_and_address(
    settings: Settings, clock: FrozenClock, sessionmaker: Maker
) -> None:
    await load_demo_data(sessionmaker, clock)
    limits = settings.model_copy(
        update={"binding_max_failures": 3, "binding_account_max_failures": 4, "binding_client_max_failures": 6}
    )
    x = await account(sessionmaker, 2)
    y = await account(sessionmaker, 3)
    z = await account(sessionmaker, 4)
    async with SmsGateway() as gateway:
        async for web in web_chat(limits, clock, gateway):
            a = await start(web, "en")  # identity: 3 wrong codes
            await a.send(payload=f"bind:{x.number}")
            code = code_of(await gateway.next_message())
            assert "1 attempt left" in await a.send(other(code)) + await a.send(other(code))
            assert "Too many failed attempts" in await a.send(other(code))
            assert "Too many failed attempts" in await a.send(payload=f"bind:{y.number}")  # no SMS either

            b = await start(web, "en")  # account x: its 4th failure, from another identity
            await b.send(payload=f"bind:{x.number}")
            code = code_of(await gateway.next_message())
            assert "cannot be linked to a new chat online" in await b.send(other(code))
            c = await start(web, "en")
            assert "cannot be linked to a new chat online" in await c.send(payload=f"bind:{x.number}")  # no SMS

            await c.send(payload=f"bind:{y.number}")  # the address: its 5th and 6th failures
            code = code_of(await gateway.next_message())
            assert "1 attempt left" in await c.send(other(code))
            assert "Too many failed attempts" in await c.send(other(code))
            d = await start(web, "en")
            assert "Too many failed attempts" in await d.send(payload=f"bind:{z.number}")  # a new chat, same address
            assert [m["to"] for m in gateway.received] == [x.phone, x.phone, y.phone]
    failures = [(number, ok) for number, ok, _ in await attempts(sessionmaker)]
    assert failures == [(x.number, False)] * 4 + [(y.number, False)] * 2


async def test_expired_code_a_new_code_and_a_gateway_error(
    web: Web, sessionmaker: Maker, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    mine = await account(sessionmaker, skip=5)
    chat = await start(web)
    web.gateway.fail_next(500)
    with caplog.at_level(logging.WARNING):
        asked = await chat.send(payload=f"bind:{mine.number}")
        first = code_of(await web.gateway.next_message())  # sent, and refused by the gateway
    assert "已向户号" in asked  # the turn stands; the customer can ask for a new code
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "binding code" in logged and "HTTP 500" in logged
    assert mine.phone not in logged and first not in logged

    await chat.send(payload=chat.payloads[0])  # "Send a new code"
    second = code_of(await web.gateway.next_message())
    if second != first:
        assert "验证码不正确" in await chat.send(first)  # the earlier code no longer works
    clock.advance(timedelta(minutes=11))
    before = len(await attempts(sessionmaker))
    expired = await chat.send(second)
    assert "验证码已过期或已失效" in expired and chat.payloads == [f"bind:{mine.number}", "cancel"]
    assert len(await attempts(sessionmaker)) == before  # nothing to guess at: not a failed attempt

    await chat.send(payload=f"bind:{mine.number}")
    third = code_of(await web.gateway.next_message())
    assert "验证通过" in await chat.send(third)
