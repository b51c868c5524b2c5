"""The bill by email asked in the chat (the bill_email skill through ConversationService, on the demo data, with a
fake NLU): bind first, then the latest statement queued to the verified address and the address told masked;
without a verified address, how to add one; in zh and en."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, build_conversations
from core.models import Identity
from core.models.enums import DeliveryChannel
from tests.fakes.nlu import FakeNlu
from tests.support.applications import FACTORY, demo_key_account
from tests.support.dialogue import Chat, bills_of, load_demo_data
from tests.support.statements import statement_rows

Maker = async_sessionmaker[AsyncSession]
ASK_ZH = "把账单发我邮箱"
ASK_EN = "email me my bill"
NLU = {ASK_ZH: "bill_email", ASK_EN: "bill_email"}


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


async def web_chat(sessionmaker: Maker, clock: FrozenClock, settings: Settings, language: str) -> Chat:
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, language)
    return Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))


async def verify_email(sessionmaker: Maker, clock: FrozenClock, chat: Chat, address: str) -> None:
    async with session_scope(sessionmaker) as session:
        identity = await session.get(Identity, chat.identity_id)
        assert identity is not None
        identity.email, identity.email_verified_at = address, clock.now()


async def test_bind_first_then_the_latest_statement_to_the_verified_address(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    chat = await web_chat(sessionmaker, clock, settings, "zh")
    await verify_email(sessionmaker, clock, chat, "mia.lin@example.com")
    assert "绑定户号" in await chat.text(ASK_ZH)
    assert "后四位" in await chat.text(factory.number)
    text = await chat.text(factory.last4)
    latest = (await bills_of(sessionmaker, factory.account_id))[0]
    month = f"{latest.period[:4]}年{int(latest.period[5:])}月"
    assert f"户号 {factory.number} {month}的电费账单" in text and "m***@example.com" in text  # answered once bound
    assert "mia.lin" not in text
    (row,) = await statement_rows(sessionmaker)
    assert (row.address, row.channel, row.subject_id) == ("mia.lin@example.com", DeliveryChannel.EMAIL, latest.id)


async def test_without_a_verified_email_it_says_how_to_add_one_in_english(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    chat = await web_chat(sessionmaker, clock, settings, "en")
    await chat.text(payload=f"bind:{factory.number}")
    assert "Verified" in await chat.text(factory.last4)
    text = await chat.text(ASK_EN)
    assert "cannot email your bill yet" in text and "6-digit code" in text
    assert chat.payloads == ["intent:subscribe_notices"]
    assert await statement_rows(sessionmaker) == []
    await verify_email(sessionmaker, clock, chat, "mia.lin@example.com")
    assert "is on its way to m***@example.com" in await chat.text(ASK_EN)
    assert len(await statement_rows(sessionmaker)) == 1


async def test_a_telegram_customer_is_sent_to_the_web_chat_to_confirm_an_address(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        identity = Identity(channel="telegram", external_id="4242", telegram_chat_id=4242, created_at=clock.now())
        session.add(identity)
        await session.flush()
    chat = Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))
    await chat.text(payload=f"bind:{factory.number}")
    assert "验证通过" in await chat.text(factory.last4)
    text = await chat.text(ASK_ZH)
    assert "网页在线客服" in text and "6 位验证码" in text and not chat.payloads
