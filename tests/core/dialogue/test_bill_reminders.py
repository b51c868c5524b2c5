"""Bill reminders turned on and off in the chat (the bill reminder skill through ConversationService, on the demo
data, with a fake NLU): a bound Telegram customer, a web chat customer asked to bind first, in zh
and en; outage notices are another subscription and stay as they are."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, build_conversations
from core.models import Identity, IdentityAccount
from core.models.enums import ChatChannel, Language
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import Chat, demo_account, load_demo_data

Maker = async_sessionmaker[AsyncSession]
NLU = {
    "交费前提醒我": "subscribe_bill_reminders",
    "取消交费提醒": "unsubscribe_bill_reminders",
    "remind me before my bill is due": "subscribe_bill_reminders",
    "stop bill reminders": "unsubscribe_bill_reminders",
}


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


async def identity(sessionmaker: Maker, identity_id: int) -> Identity:
    async with sessionmaker() as session:
        found = await session.get(Identity, identity_id)
        assert found is not None
        return found


async def bound_telegram_chat(sessionmaker: Maker, clock: FrozenClock, settings: Settings, language: Language) -> Chat:
    """A demo Telegram customer with an account bound, speaking `language`."""
    async with session_scope(sessionmaker) as session:
        found = await session.scalar(
            select(Identity)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .where(Identity.channel == ChatChannel.TELEGRAM)
            .order_by(Identity.id)
        )
        assert found is not None and not found.bill_reminders
        found.language = language
        identity_id = found.id
    service = build_conversations(settings, clock, FakeNlu(NLU))
    return Chat(sessionmaker, service, identity_id, MemoryStateBackend(clock))


async def test_a_bound_telegram_customer_turns_reminders_on_and_off(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await bound_telegram_chat(sessionmaker, clock, settings, Language.ZH)
    before = (await identity(sessionmaker, chat.identity_id)).subscribed_notices
    text = await chat.text("交费前提醒我")
    assert "已为您开通交费提醒" in text and "提醒会发送到这个对话" in text and "取消交费提醒" in text
    found = await identity(sessionmaker, chat.identity_id)
    assert found.bill_reminders and found.subscribed_notices == before  # outage notices untouched
    off = await chat.text("取消交费提醒")
    assert "已关闭交费提醒" in off and "停电通知不受影响" in off
    assert not (await identity(sessionmaker, chat.identity_id)).bill_reminders


async def test_in_english(sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None) -> None:
    chat = await bound_telegram_chat(sessionmaker, clock, settings, Language.EN)
    text = await chat.text("remind me before my bill is due")
    assert "Bill reminders are on for account" in text and "They will come to this chat." in text
    assert (await identity(sessionmaker, chat.identity_id)).bill_reminders
    assert "Bill reminders are off" in await chat.text("stop bill reminders")
    assert not (await identity(sessionmaker, chat.identity_id)).bill_reminders


async def test_a_web_chat_customer_binds_first_then_is_opted_in_and_told_how_reminders_reach_them(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker)
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        web = await IdentityService(clock).start_web_session(session, "zh")
    chat = Chat(sessionmaker, service, web.id, MemoryStateBackend(clock))
    asked = await chat.text("交费前提醒我")
    assert "需要先绑定户号" in asked
    assert not (await identity(sessionmaker, web.id)).bill_reminders
    await chat.text(account.number)
    text = await chat.text(account.last4)  # bound: the request asked before binding is answered
    assert "验证通过" in text
    assert f"已为您开通交费提醒（户号 {account.number}）" in text
    assert "您目前还没有验证邮箱" in text  # the web chat cannot reach them once closed
    assert (await identity(sessionmaker, web.id)).bill_reminders


async def test_turning_them_off_needs_no_account(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        web = await IdentityService(clock).start_web_session(session, "en")
    chat = Chat(sessionmaker, service, web.id, MemoryStateBackend(clock))
    text = await chat.text("stop bill reminders")
    assert "Bill reminders are off" in text and "link" not in text.lower()
