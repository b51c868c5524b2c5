"""Where a customer's application stands, asked in the chat (the application skill through ConversationService,
on the demo data, with a fake NLU; the real one: tests/e2e/test_applications.py): bind first, then the stage,
the next step, the due time and who to call; a key-account contact on Telegram without binding; none: how to
apply; in zh and en."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, build_conversations
from core.models import Application, Identity, Message, UtilityAccount
from core.models.enums import ApplicationStage
from tests.fakes.nlu import FakeNlu
from tests.support.applications import DATA_CENTRE, FACTORY, DemoKeyAccount, demo_key_account
from tests.support.dialogue import Chat, demo_account, load_demo_data

Maker = async_sessionmaker[AsyncSession]
ASK_ZH = "我的增容申请办到哪一步了"
ASK_EN = "where is my capacity increase application"
NLU = {
    ASK_ZH: "application_status",
    ASK_EN: "application_status",
    "怎么申请增容": "faq_capacity_change",
    "where is our capacity increase request": "faq_capacity_change",  # the model's confusion, at times
    "how do I apply for a capacity increase": "faq_capacity_change",
}


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


async def web_chat(sessionmaker: Maker, clock: FrozenClock, settings: Settings, language: str = "zh") -> Chat:
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, language)
    return Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))


async def telegram_chat(sessionmaker: Maker, clock: FrozenClock, settings: Settings, chat_id: int) -> Chat:
    service = build_conversations(settings, clock, FakeNlu(NLU))
    async with session_scope(sessionmaker) as session:
        identity = Identity(
            channel="telegram", external_id=str(chat_id), telegram_chat_id=chat_id, created_at=clock.now()
        )
        session.add(identity)
        await session.flush()
    return Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))


async def data_centre_in_english(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> tuple[Chat, DemoKeyAccount]:
    """A web chat in English, bound to the demo's data centre (its application: design review, overdue)."""
    centre = await demo_key_account(sessionmaker, DATA_CENTRE)
    chat = await web_chat(sessionmaker, clock, settings, "en")
    await chat.text(payload=f"bind:{centre.number}")
    assert "Verified" in await chat.text(centre.last4)
    return chat, centre


async def due_text(sessionmaker: Maker, settings: Settings, key: DemoKeyAccount) -> str:
    async with sessionmaker() as session:
        due = await session.scalar(select(Application.due_at).where(Application.account_id == key.account_id))
    assert due is not None
    return due.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


async def test_bind_first_then_the_stage_next_step_deadline_and_the_account_manager(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    chat = await web_chat(sessionmaker, clock, settings)
    asked = await chat.text(ASK_ZH)
    assert "绑定户号" in asked and "竣工检验" not in asked  # nothing about an account before binding
    assert "后四位" in await chat.text(factory.number)
    text = await chat.text(factory.last4)
    assert "验证通过" in text
    # the question asked before binding is answered now
    assert "增容申请" in text and "当前阶段：竣工检验（第 6/7 步）" in text
    assert (
        "下一步：装表接电，正式送电" in text
        and f"本阶段办理时限：{await due_text(sessionmaker, settings, factory)}" in text
    )
    assert f"您的客户经理 {factory.manager_name}，电话 {factory.manager_phone}" in text
    assert "接电需要计划停电" in text and "10kV湖墅线开关柜更换" in text  # the planned outage it needs
    again = await chat.text(ASK_ZH)
    assert "竣工检验" in again and "已超过时限" not in again and not chat.payloads


async def test_an_overdue_one_is_said_so_in_english(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat, centre = await data_centre_in_english(sessionmaker, clock, settings)
    text = await chat.text(ASK_EN)
    assert "Stage: design review (step 4 of 7)" in text and "Next: the interim inspection" in text
    assert (
        "past its time limit" in text and f"Your account manager: {centre.manager_name}, {centre.manager_phone}" in text
    )


async def test_a_key_account_contact_on_telegram_needs_no_binding(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    contact = await telegram_chat(sessionmaker, clock, settings, factory.contact_chats[0])
    text = await contact.text(ASK_ZH)
    assert "竣工检验" in text and factory.manager_name in text and "绑定" not in text
    stranger = await telegram_chat(sessionmaker, clock, settings, 777_000_001)
    assert "绑定户号" in await stranger.text(ASK_ZH)


async def test_a_resident_without_applications_is_told_how_to_apply(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker)
    chat = await web_chat(sessionmaker, clock, settings)
    await chat.text(payload=f"bind:{account.number}")
    await chat.text(account.last4)
    text = await chat.text(ASK_ZH)
    assert "没有查到您名下正在办理的用电申请" in text and "95598" in text
    assert chat.payloads == ["intent:faq_new_connection", "intent:faq_capacity_change"]
    how = await chat.text(payload="intent:faq_capacity_change")
    assert "增容" in how and "没有查到" not in how  # the FAQ still answers how to apply
    assert "增容" in await chat.text("怎么申请增容") and not chat.payloads


async def test_a_resident_hears_of_the_hotline_and_of_one_done(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    async with sessionmaker() as session:
        done, number, phone = (
            await session.execute(
                select(Application, UtilityAccount.account_number, UtilityAccount.phone)
                .join(UtilityAccount, UtilityAccount.id == Application.account_id)
                .where(Application.stage == ApplicationStage.CONNECTED)
            )
        ).one()
    chat = await web_chat(sessionmaker, clock, settings)
    await chat.text(payload=f"bind:{number}")
    await chat.text(phone[-4:])
    text = await chat.text(ASK_ZH)
    assert f"编号 {done.id}" in text and "已完成装表接电" in text and "目前没有正在办理的申请" in text
    # a stage change later: it is open again (a reopening), with the hotline to call
    clock.advance(timedelta(minutes=1))
    async with session_scope(sessionmaker) as session:
        row = await session.get(Application, done.id)
        assert row is not None
        row.stage, row.due_at = ApplicationStage.COMPLETION_INSPECTION, clock.now() + timedelta(days=2)
    text = await chat.text(ASK_ZH)
    assert "当前阶段：竣工检验" in text and "服务热线 95598" in text and "客户经理" not in text


async def test_with_the_nlu_down_the_keyword_rules_still_tell_status_from_how_to_apply(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    factory = await demo_key_account(sessionmaker, FACTORY)
    service = build_conversations(settings, clock, FakeNlu(up=False))
    async with session_scope(sessionmaker) as session:
        identity = Identity(
            channel="telegram", external_id="contact", telegram_chat_id=factory.contact_chats[1], created_at=clock.now()
        )
        session.add(identity)
        await session.flush()
    chat = Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))
    assert "竣工检验" in await chat.text(ASK_ZH)  # every open application of theirs, whichever kind was named
    assert "竣工检验" in await chat.text("充电桩申请到哪一步了")
    assert "竣工检验" in await chat.text("what is the status of my application")
    how = await chat.text("增容怎么办理")
    assert "竣工检验" not in how and "增容" in how


async def test_where_ones_own_application_stands_is_the_status_even_when_the_model_says_how_to_apply(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat, _ = await data_centre_in_english(sessionmaker, clock, settings)
    text = await chat.text("where is our capacity increase request")
    assert "Stage: design review (step 4 of 7)" in text
    how = await chat.text("how do I apply for a capacity increase")
    assert "Stage:" not in how and "capacity" in how.lower()  # how to apply stays the FAQ
    async with sessionmaker() as session:
        intents = list(
            await session.scalars(
                select(Message.intent).where(Message.direction == "in").order_by(Message.id.desc()).limit(2)
            )
        )
    assert intents == ["faq_capacity_change", "faq_capacity_change"]  # the transcript keeps what the model said
