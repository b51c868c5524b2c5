"""The dialogue through ConversationService, on the demo data, with a fake NLU (the real one: tests/e2e)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.answers import plain
from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, NoticeResponder, build_conversations
from core.models import (
    BindingAttempt,
    Conversation,
    Escalation,
    FaultTicket,
    Feedback,
    Identity,
    IdentityAccount,
    Message,
    Outage,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import TicketStatus
from core.ports import Entity, NluResult, OutgoingMessage
from core.services import CoreServices
from core.templating import kwh, money
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import (
    PHRASES,
    Chat,
    DemoAccount,
    amount_due,
    bills_of,
    demo_account,
    demo_nlu,
    load_demo_data,
)

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


async def new_chat(
    sessionmaker: Maker,
    clock: FrozenClock,
    settings: Settings,
    nlu: FakeNlu,
    language: str = "zh",
    notices: NoticeResponder | None = None,
) -> Chat:
    service = build_conversations(settings, clock, nlu, notices=notices)
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, language)
    return Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))


async def restoration_local(sessionmaker: Maker, settings: Settings) -> str:
    async with sessionmaker() as session:
        outage = await session.scalar(select(Outage).where(Outage.kind == "unplanned"))
        assert outage is not None and outage.estimated_restoration_at is not None
        return outage.estimated_restoration_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


async def tickets(sessionmaker: Maker) -> list[FaultTicket]:
    """The tickets filed in the test's web chats (the demo's storm has tickets of its Telegram customers)."""
    async with sessionmaker() as session:
        query = (
            select(FaultTicket).join(Identity, Identity.id == FaultTicket.identity_id).where(Identity.channel == "web")
        )
        return list(await session.scalars(query.order_by(FaultTicket.id)))


# ------------------------------------------------------------------------------------ the must-show


async def test_must_show_in_chinese(sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01")
    bills = await bills_of(sessionmaker, account.id)
    latest, previous = bills[0], bills[1]
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu())
    say = PHRASES["zh"]

    text = await chat.text(say["bill_amount"])
    assert "请先绑定" in text or "先绑定户号" in text
    assert "¥" not in text and "度" not in text  # nothing about any account before verification
    text = await chat.text(account.number)
    assert account.number in text and "后四位" in text
    wrong = "0000" if account.last4 != "0000" else "1111"
    text = await chat.text(wrong)
    assert "验证没有通过" in text and "¥" not in text and account.address not in text

    text = await chat.text(account.last4)
    assert "验证通过" in text and account.address in text
    assert money(latest.amount) in text  # the question asked before binding is answered now

    text = await chat.text(say["bill_amount"])
    assert f"电费 {money(latest.amount)}，用电 {kwh(latest.kwh)} 度" in text
    due = amount_due(bills)
    assert (f"当前应缴合计 {money(due)}" in text) if due else ("没有未缴电费" in text)

    text = await chat.text(say["bill_explain"])
    for line in latest.lines:
        assert f"{kwh(line.kwh)} 度 × {plain(line.unit_price)} 元 = {money(line.amount)}" in text
    assert sum(line.amount for line in latest.lines) == latest.amount
    assert f"合计 {money(latest.amount)}" in text
    assert money(previous.amount) in text
    assert f"{kwh(previous.kwh)} → {kwh(latest.kwh)} 度" in text  # the kWh change is a reason

    text = await chat.text(say["outage_status"])
    assert "正在停电" in text and "江南线" in text
    assert await restoration_local(sessionmaker, settings) in text

    result = await chat.send(say["report_fault"])
    assert "安全第一" in result.replies[0].text and "8 米" in result.replies[0].text  # safety instruction first
    [ticket] = await tickets(sessionmaker)
    assert (ticket.hazard, ticket.urgent, ticket.location, ticket.account_id) == (
        True,
        True,
        account.address,
        account.id,
    )
    assert ticket.description == say["report_fault"]
    assert ticket.reference in result.replies[-1].text and "紧急" in result.replies[-1].text

    async with sessionmaker() as session:
        attempts = list(await session.scalars(select(BindingAttempt).order_by(BindingAttempt.id)))
    assert [(a.account_number, a.succeeded) for a in attempts] == [(account.number, False), (account.number, True)]


async def test_must_show_in_english(sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01", skip=1)
    bills = await bills_of(sessionmaker, account.id)
    latest = bills[0]
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(), language="en")
    say = PHRASES["en"]

    text = await chat.text(say["bill_amount"])
    assert "link your account first" in text and "¥" not in text
    await chat.text(account.number)
    text = await chat.text("9999" if account.last4 != "9999" else "8888")
    assert "did not match" in text and "4 attempts left" in text
    text = await chat.text(f"it ends with {account.last4}")
    assert "Verified" in text and money(latest.amount) in text

    text = await chat.text(say["bill_amount"])
    assert f"{money(latest.amount)} for {kwh(latest.kwh)} kWh" in text

    text = await chat.text(say["bill_explain"])
    for line in latest.lines:
        assert f"{kwh(line.kwh)} kWh × ¥{plain(line.unit_price)} = {money(line.amount)}" in text
    assert f"Total {money(latest.amount)}" in text and "Compared with the previous bill" in text

    text = await chat.text(say["outage_status"])
    assert "power cut in the area" in text and "BJ-F01" in text
    assert await restoration_local(sessionmaker, settings) in text

    result = await chat.send(say["report_fault"])
    assert result.replies[0].text.startswith("⚠ Safety first") and "8 metres" in result.replies[0].text
    [ticket] = await tickets(sessionmaker)
    assert ticket.urgent and ticket.location == account.address
    assert f"URGENT fault report is logged: reference {ticket.reference}" in result.replies[-1].text


# ---------------------------------------------------------------------------------------- binding


async def test_five_failures_lock_binding_for_an_hour(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker)
    wrong = "0000" if account.last4 != "0000" else "1111"
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu())
    await chat.text(payload="bind")
    await chat.text(account.number)
    for left in (4, 3, 2, 1):
        text = await chat.text(wrong)
        assert f"还可以尝试 {left} 次" in text
        clock.advance(timedelta(minutes=5))
    text = await chat.text(wrong)
    unlock = (clock.now() + timedelta(hours=1)).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    assert "已暂时锁定" in text and unlock in text

    clock.advance(timedelta(minutes=30))
    text = await chat.text(f"绑定户号 {account.number}")  # even the right digits are not checked while locked
    assert "已暂时锁定" in text
    text = await chat.text(account.last4)
    assert "验证通过" not in text
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(BindingAttempt)))) == 5  # nothing recorded while locked
        assert await session.scalar(select(IdentityAccount).where(IdentityAccount.account_id == account.id)) is None

    clock.advance(timedelta(minutes=31))
    await chat.text(payload="bind")
    await chat.text(account.number)
    text = await chat.text(account.last4)
    assert "验证通过" in text


async def test_unknown_account_fails_like_a_wrong_phone(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu())
    await chat.text(payload="bind:1234567890")
    text = await chat.text("1234")
    assert "验证没有通过：户号或手机号后四位不正确" in text
    text = await chat.text("12345")  # not an account number, not 4 digits
    assert "请只发送 4 位数字" in text
    chat.service.nlu.intents["2026年10月电费多少"] = "bill_amount"  # type: ignore[attr-defined]
    text = await chat.text("2026年10月电费多少")  # another question: no verification with "2026"
    assert "验证没有通过" not in text and "先绑定户号" in text
    async with sessionmaker() as session:
        assert len(list(await session.scalars(select(BindingAttempt)))) == 1


async def test_several_accounts_chosen_with_buttons_and_unbound(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    first = await demo_account(sessionmaker, area="XH")
    second = await demo_account(sessionmaker, area="BJ")
    other = await demo_account(sessionmaker, area="GS")
    nlu = demo_nlu(**{"查电费": "bill_amount"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    for account in (first, second):
        nlu.intents[f"绑定 {account.number}"] = "bind_account"
        nlu.entities[f"绑定 {account.number}"] = (Entity("account_number", account.number, 3, 13),)
        await chat.text(f"绑定 {account.number}")
        text = await chat.text(account.last4)
        assert account.address in text
    assert "已绑定 2 个户号" in text

    text = await chat.text("查电费")
    assert second.number in text and first.number not in text  # the last bound is current
    assert "accounts" in chat.payloads  # a "switch account" button
    text = await chat.text(payload="accounts")
    assert first.number in text and second.number in text
    assert f"account:{first.id}" in chat.payloads and f"unbind:{second.id}" in chat.payloads
    await chat.text(payload=f"account:{first.id}")
    text = await chat.text("查电费")
    assert first.number in text and second.number not in text

    text = await chat.text(payload=f"account:{other.id}")  # a forged button: not bound here
    assert "没有完成" in text
    text = await chat.text(payload=f"unbind:{first.id}")
    assert f"已解绑户号 {first.number}" in text
    text = await chat.text("查电费")
    assert second.number in text  # the remaining account became current
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(IdentityAccount)))
    bound_here = [r for r in rows if r.identity_id == chat.identity_id]
    assert [(r.account_id, r.is_current) for r in bound_here] == [(second.id, True)]


async def test_account_answers_need_binding(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"上个月用了几度电": "usage_query", "峰谷电价多少": "tariff_query"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    for text_in in ("为什么电费这么高", "上个月用了几度电"):
        text = await chat.text(text_in)
        assert "先绑定户号" in text and "¥" not in text and "度 ×" not in text
    text = await chat.text(payload="intent:usage_query")
    assert "先绑定户号" in text


async def test_the_tariff_is_public_and_once_bound_it_is_the_accounts_own(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"峰谷电价多少": "tariff_query"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    text = await chat.text("峰谷电价多少")
    assert "居民用电执行「居民阶梯分时电价」" in text and "0.568 元/度" in text and "先绑定户号" not in text
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu)
    text = await chat.text("峰谷电价多少")
    assert f"户号 {account.number} 执行「居民阶梯分时电价」" in text and "绑定户号后" not in text


# ---------------------------------------------------------------------------------------- billing


async def bound_chat(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, nlu: FakeNlu, language: str = "zh", **where: str
) -> tuple[Chat, DemoAccount]:
    account = await demo_account(sessionmaker, **where)  # type: ignore[arg-type]
    chat = await new_chat(sessionmaker, clock, settings, nlu, language)
    await chat.text(payload=f"bind:{account.number}")
    text = await chat.text(account.last4)
    assert "验证通过" in text or "Verified" in text
    return chat, account


async def test_usage_for_a_period_and_the_trend(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(
        **{
            "上个月用了几度电": "usage_query",
            "用电量": "usage_query",
            "2026年3月用了多少电": "usage_query",
            "这个月用了多少电": "usage_query",
            "近三个月用电": "usage_query",
        }
    )
    nlu.entities["上个月用了几度电"] = (Entity("period", "上个月", 0, 3),)
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu)
    bills = {b.period: b for b in await bills_of(sessionmaker, account.id)}

    october = bills["2026-10"]
    text = await chat.text("上个月用了几度电")
    assert (
        f"2026年10月用电 {kwh(october.kwh)} 度（峰时 {kwh(october.kwh_peak)} 度，谷时 {kwh(october.kwh_valley)} 度）"
        in text
    )
    text = await chat.text("2026年3月用了多少电")
    assert f"2026年3月用电 {kwh(bills['2026-03'].kwh)} 度" in text
    text = await chat.text("这个月用了多少电")
    assert "还没有出账" in text and f"2026年10月用电 {kwh(october.kwh)} 度" in text

    text = await chat.text("用电量")
    months = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert "近 6 个月" in text
    for period in months:
        year, month = period.split("-")
        assert f"{year}年{int(month)}月 " in text and kwh(bills[period].kwh) in text
    total = sum((bills[p].kwh for p in months), start=Decimal(0))
    assert f"合计 {kwh(total)} 度" in text
    text = await chat.text("近三个月用电")
    assert "2026年8月至2026年10月" in text and "2026年7月" not in text


async def test_tariff_and_configured_payment_methods(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    settings = settings.model_copy(update={"payment_methods": "wechat,service_hall", "service_hotline": "12345"})
    nlu = demo_nlu(**{"what are the peak hours": "tariff_query", "how can I pay": "payment_methods"})
    chat, _ = await bound_chat(sessionmaker, clock, settings, nlu, language="en")
    text = await chat.text("what are the peak hours")
    assert "Peak hours 08:00–22:00: ¥0.568 per kWh" in text
    assert "Valley hours 22:00–08:00 next day: ¥0.288 per kWh" in text
    assert "Tier 2, 230–400 kWh: ¥0.05 more per kWh" in text and "Tier 3, above 400 kWh: ¥0.3 more" in text
    text = await chat.text("how can I pay")
    assert text.index("1. WeChat") < text.index("2. A customer service hall")
    assert "Alipay" not in text and "Call 12345" in text


async def test_a_named_bill_month(sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None) -> None:
    nlu = demo_nlu(**{"2026年9月电费多少": "bill_amount", "9月的账单为什么这么高": "bill_explain"})
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu)
    bills = {b.period: b for b in await bills_of(sessionmaker, account.id)}
    text = await chat.text("2026年9月电费多少")
    assert f"2026年9月账单：电费 {money(bills['2026-09'].amount)}" in text
    chat.service.nlu.intents["2025年1月电费多少"] = "bill_amount"  # type: ignore[attr-defined]
    text = await chat.text("2025年1月电费多少")  # before the first demo bill
    assert "没有2025年1月的账单记录" in text and "最近一期是2026年10月" in text
    text = await chat.text("9月的账单为什么这么高")
    assert "2026年9月账单明细" in text and f"与上期（2026年8月，{money(bills['2026-08'].amount)}" in text


# ---------------------------------------------------------------------------------------- outages


async def test_no_outage_offers_a_fault_report_and_planned_outages_in_local_time(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"下个月有检修停电吗": "planned_outage_query", "有计划停电吗": "planned_outage_query"})
    chat, _ = await bound_chat(sessionmaker, clock, settings, nlu, feeder="GS-F01")
    text = await chat.text(PHRASES["zh"]["outage_status"])
    assert "目前没有影响" in text and "intent:report_fault" in chat.payloads

    async with sessionmaker() as session:
        planned = await session.scalar(
            select(Outage).where(Outage.kind == "planned").order_by(Outage.starts_at).limit(1)
        )  # the one on GS-F01, in 3 days
    assert planned is not None
    text = await chat.text("有计划停电吗")
    start = planned.starts_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    end = planned.ends_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    assert f"时间：{start} 至 {end}" in text and start.endswith("09:00")  # 09:00 local, not UTC
    assert "湖墅线" in text and planned.reason in text
    text = await chat.text("下个月有检修停电吗")
    assert "2026年12月没有已发布的计划停电" in text


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_an_outage_on_another_feeder_of_the_district_is_named(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None, language: str
) -> None:
    """The demo fault is on BJ-F01 (江南线); an account on BJ-F02 is told of it, and that it is not on it."""
    chat, _ = await bound_chat(sessionmaker, clock, settings, demo_nlu(), language, feeder="BJ-F02")
    text = await chat.text(PHRASES[language]["outage_status"])
    restoration = await restoration_local(sessionmaker, settings)
    assert restoration in text and "intent:report_fault" in chat.payloads
    if language == "zh":
        assert "目前没有影响" in text and "所在区域目前正在停电" not in text
        assert "滨江区的其他线路上正在停电" in text and "江南线：故障停电" in text
        assert "您的地址不在这条线路上" in text and "浦沿线" not in text  # only the feeders with the outage
    else:
        assert "There is no power cut affecting" in text and "another feeder in Binjiang District" in text
        assert "feeder BJ-F01 江南线: a fault" in text and "Your address is not on that feeder" in text
        assert "BJ-F02" not in text

    other, _ = await bound_chat(sessionmaker, clock, settings, demo_nlu(), language, feeder="GS-F02")
    text = await other.text(PHRASES[language]["outage_status"])  # another district: nothing near
    assert restoration not in text and "BJ-F01" not in text and "江南线" not in text


async def test_outage_answers_before_binding_are_public_only(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(), language="en")
    text = await chat.text(PHRASES["en"]["outage_status"])
    assert "Binjiang District" in text and await restoration_local(sessionmaker, settings) in text
    assert "Link your account" in text and "bind" in chat.payloads


# ------------------------------------------------------------------------------------------ faults


async def test_fault_form_without_a_hazard(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(**{"我要报修": "report_fault"}))
    text = await chat.text("我要报修")
    assert "发生了什么" in text
    text = await chat.text("整栋楼都没电了")
    assert "故障在哪里" in text and "fault:home" not in chat.payloads  # not bound: no "my address" button
    text = await chat.text("文三路158号文华苑5幢")
    assert "有没有危险" in text and chat.payloads[:2] == ["fault:hazard:yes", "fault:hazard:no"]
    text = await chat.text("嗯，好像")
    assert "请回答" in text
    text = await chat.text("没有")
    [ticket] = await tickets(sessionmaker)
    assert (ticket.description, ticket.location, ticket.hazard, ticket.urgent) == (
        "整栋楼都没电了",
        "文三路158号文华苑5幢",
        False,
        False,
    )
    assert ticket.reference in text and "紧急" not in text
    assert ticket.reference.startswith("F261123-")  # the local date


async def test_hazard_before_binding_gets_the_safety_instruction_then_the_place(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(**{"楼道里电表箱冒烟了": "report_fault"}))
    result = await chat.send("楼道里电表箱冒烟了")
    assert "安全第一" in result.replies[0].text and "断开总闸" in result.replies[0].text
    assert "故障在哪里" in result.replies[-1].text
    await chat.text("上城区望江路600号望江家园3幢楼道")
    [ticket] = await tickets(sessionmaker)
    assert ticket.urgent and ticket.location == "上城区望江路600号望江家园3幢楼道" and ticket.account_id is None


async def test_a_hazard_answer_marks_the_ticket_urgent(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"my main breaker keeps tripping": "report_fault"})
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu, language="en")
    text = await chat.text("my main breaker keeps tripping")  # "main breaker": at home, and bound
    assert "Is there any danger" in text
    result = await chat.send(payload="fault:hazard:yes")
    assert "Safety first" in result.replies[0].text
    [ticket] = await tickets(sessionmaker)
    assert ticket.urgent and ticket.location == account.address


# ------------------------------------------------------------------------ escalation, NLU down, rest


async def escalations(sessionmaker: Maker) -> list[Escalation]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Escalation).order_by(Escalation.id)))


async def test_two_fallbacks_in_a_row_escalate(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"明天下雨吗": "out_of_scope", "你好": "greet", "转人工": "human_handoff"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    text = await chat.text("明天下雨吗")
    assert "帮不上忙" in text and "intent:bill_amount" in chat.payloads  # the menu
    await chat.text("你好")  # understood: the streak starts again
    text = await chat.text("asdfgh")
    assert "没有理解" in text and not await escalations(sessionmaker)
    text = await chat.text("qwerty")
    assert "已为您转接人工客服" in text
    [escalation] = await escalations(sessionmaker)
    assert (escalation.reason, escalation.priority, escalation.state) == ("repeated_fallback", "normal", "pending")
    text = await chat.text("转人工")
    assert "已经在人工客服的处理队列中" in text and len(await escalations(sessionmaker)) == 1


async def test_complaint_is_escalated_with_priority(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"报修两小时没人来，我要投诉": "complaint"})
    chat = await new_chat(sessionmaker, clock, settings, nlu, language="en")
    text = await chat.text("报修两小时没人来，我要投诉")
    assert "Your complaint is recorded" in text
    [escalation] = await escalations(sessionmaker)
    async with sessionmaker() as session:
        conversation = await session.get(Conversation, escalation.conversation_id)
    assert conversation is not None and conversation.identity_id == chat.identity_id
    assert (escalation.reason, escalation.priority, escalation.identity_id) == ("complaint", "high", chat.identity_id)


async def test_without_the_nlu_it_says_so_once_and_keeps_working(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu()
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu)
    nlu.up = False
    result = await chat.send("电费多少")
    assert "智能识别服务暂时不可用" in result.replies[0].text
    assert f"户号 {account.number}" in result.replies[1].text
    assert result.intent == "bill_amount" and result.confidence is None and not result.nlu_available
    text = await chat.text("现在停电了吗")  # the keyword rules read "停电": no outage in this account's area
    assert "智能识别" not in text and "目前没有影响" in text
    text = await chat.text(payload="intent:tariff_query")  # buttons need no NLU
    assert "峰时段" in text and "智能识别" not in text
    nlu.up = True
    await chat.text("为什么电费这么高")
    nlu.up = False
    text = await chat.text("电费多少")
    assert "智能识别服务暂时不可用" in text  # a new outage of the NLU is told again


async def test_subscriptions_language_faq_and_small_talk(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(
        **{
            "停电提前告诉我": "subscribe_notices",
            "别再推送了": "unsubscribe_notices",
            "谢谢": "thanks",
            "充电桩怎么装": "faq_ev_charger",
            "服务不错": "feedback",
        }
    )
    chat = await new_chat(sessionmaker, clock, settings, nlu)

    async def subscribed() -> bool:
        async with sessionmaker() as session:
            identity = await session.get(Identity, chat.identity_id)
            assert identity is not None
            return identity.subscribed_notices

    text = await chat.text("停电提前告诉我")  # the web chat, no SMTP server: told which channel would reach them
    assert "Telegram" in text and "邮件" in text and not await subscribed()
    text = await chat.text("别再推送了")
    assert "已为您退订" in text and not await subscribed()
    assert "充电桩" in await chat.text("充电桩怎么装")
    assert "不客气" in await chat.text("谢谢")
    assert "感谢您的意见" in await chat.text("服务不错")
    async with sessionmaker() as session:
        [feedback] = list(await session.scalars(select(Feedback)))
    assert (feedback.comment, feedback.score) == ("服务不错", None)

    text = await chat.text("English")
    assert "I will answer in English" in text
    assert "EV charger" in await chat.text("充电桩怎么装")
    text = await chat.text(payload="lang")
    assert chat.payloads == ["lang:zh", "lang:en"]
    assert "已切换为中文" in await chat.text(payload="lang:zh")


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_every_faq_and_menu_answer_renders(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None, language: str
) -> None:
    from core.dialogue.intents import FAQ_INTENTS

    chat = await new_chat(sessionmaker, clock, settings, FakeNlu(), language)
    for intent in sorted(FAQ_INTENTS):
        text = await chat.text(payload=f"intent:{intent}")
        assert settings.service_hotline in text or "kWh" in text or "用电量" in text
    for payload in ("start", "help", "menu", "accounts", "unsupported", "no-such-button"):
        assert await chat.text(payload=payload)


class RecordingNotices:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def on_payload(
        self, session: AsyncSession, identity: Identity, payload: str, language: str
    ) -> list[OutgoingMessage] | None:
        self.calls.append(("payload", payload))
        return [OutgoingMessage(f"confirmed {payload}")] if payload.endswith(":1") else None

    async def on_ack_text(
        self, session: AsyncSession, identity: Identity, text: str, language: str
    ) -> list[OutgoingMessage] | None:
        self.calls.append(("text", text))
        return None

    async def on_told(self, session: AsyncSession, identity: Identity, outage_ids: Sequence[int]) -> None:
        self.calls.append(("told", ",".join(map(str, outage_ids))))


async def test_notice_confirmations_go_to_the_notice_responder(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    default = await new_chat(sessionmaker, clock, settings, demo_nlu(**{"已收到，已安排备用电源": "outage_ack"}))
    assert "没有需要您确认的停电通知" in await default.text(payload="notice:ack:7")
    assert "没有需要您确认的停电通知" in await default.text("已收到，已安排备用电源")

    notices = RecordingNotices()
    chat = await new_chat(
        sessionmaker, clock, settings, demo_nlu(**{"已收到，已安排备用电源": "outage_ack"}), notices=notices
    )
    assert await chat.text(payload="notice:ack:1") == "confirmed notice:ack:1"
    assert "没有需要您确认" in await chat.text(payload="notice:ack:2")  # None: the polite default
    assert "没有需要您确认" in await chat.text("已收到，已安排备用电源")
    assert notices.calls == [
        ("payload", "notice:ack:1"),
        ("payload", "notice:ack:2"),
        ("text", "已收到，已安排备用电源"),
    ]


async def test_the_transcript_keeps_every_message(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(**{"你好": "greet"}))
    await chat.text("你好")
    await chat.text(payload="intent:payment_methods")
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(Message).order_by(Message.id)))
    assert [(m.direction, m.channel) for m in rows] == [("in", "web"), ("out", "web"), ("in", "web"), ("out", "web")]
    hello_in, menu_out, button_in, answer_out = rows
    assert (hello_in.text, hello_in.intent, hello_in.confidence) == ("你好", "greet", 0.99)
    assert menu_out.intent == "greet" and {"title": "缴费方式", "payload": "intent:payment_methods"} in menu_out.buttons
    assert (button_in.text, button_in.payload, button_in.intent) == (
        "缴费方式",
        "intent:payment_methods",
        "payment_methods",
    )
    assert "缴纳电费" in answer_out.text


async def test_a_form_left_idle_is_dropped(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker)
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu())
    await chat.text(payload=f"bind:{account.number}")
    clock.advance(timedelta(minutes=settings.conversation_idle_minutes + 1))
    text = await chat.text(account.last4)  # four digits, long after: not read as the verification
    assert "验证" not in text
    async with sessionmaker() as session:
        assert not list(await session.scalars(select(BindingAttempt)))
        conversations = list(
            await session.scalars(select(Conversation).where(Conversation.identity_id == chat.identity_id))
        )
    assert len(conversations) == 2  # a new conversation after the idle time


async def test_cancel_leaves_a_form(sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None) -> None:
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu())
    await chat.text(payload="bind")
    assert "已取消" in await chat.text("取消")
    await chat.text(payload="intent:report_fault")
    assert "已取消" in await chat.text(payload="cancel")
    assert not await tickets(sessionmaker)


async def test_a_hazard_is_answered_with_safety_first_even_when_escalating(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"电线掉下来了还冒烟，快转人工": "human_handoff", "asdf": "nlu_fallback"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    result = await chat.send("电线掉下来了还冒烟，快转人工")
    assert "安全第一" in result.replies[0].text and "已为您转接人工客服" in result.replies[-1].text
    await chat.text("asdf")
    result = await chat.send("外面的电线断了")  # not understood, but a hazard: a fault report, not a 2nd fallback
    assert "安全第一" in result.replies[0].text and "故障在哪里" in result.replies[-1].text
    assert [e.reason for e in await escalations(sessionmaker)] == ["human_handoff"]


async def test_key_accounts_are_escalated_with_priority(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    async with sessionmaker() as session:
        hospital = await session.scalar(
            select(UtilityAccount).where(UtilityAccount.account_number.like("3390%")).order_by(UtilityAccount.id)
        )
    assert hospital is not None
    chat = await new_chat(sessionmaker, clock, settings, demo_nlu(**{"转人工": "human_handoff"}))
    await chat.text(payload=f"bind:{hospital.account_number}")
    assert "验证通过" in await chat.text(hospital.phone[-4:])
    await chat.text("转人工")
    [escalation] = await escalations(sessionmaker)
    assert (escalation.reason, escalation.priority) == ("human_handoff", "high")


async def test_when_the_nlu_is_unsure_the_keyword_rules_have_a_say(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu()  # knows nothing of this phrasing: nlu_fallback, as the real model said
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu, language="en")
    october = next(b for b in await bills_of(sessionmaker, account.id) if b.period == "2026-10")
    text = await chat.text("how much electricity did I use last month")
    assert f"used {kwh(october.kwh)} kWh in October 2026" in text
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(Message).order_by(Message.id.desc()).limit(2)))
    answer, question = rows
    assert (question.intent, question.confidence) == ("nlu_fallback", 0.2)  # what the NLU said, kept
    assert answer.intent == "usage_query"  # what was answered
    assert "did not understand" in await chat.text("zzz")  # no rule matches: the menu


# ------------------------------------------------------------------------------ forms and context


async def test_a_question_inside_a_form_is_answered_and_a_second_one_leaves_the_form(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"明天下雨吗": "out_of_scope", "怎么交电费": "payment_methods", "绑定户号": "bind_account"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    assert "10 位户号" in await chat.text("绑定户号")
    text = await chat.text("明天下雨吗")
    assert "帮不上忙" in text and "继续绑定户号" in text  # declined, and the form offered again in one line
    text = await chat.text("怎么交电费")
    assert "微信" in text and "继续绑定户号" not in text  # the second question in a row: the form is left
    text = await chat.text("asdf")
    assert "没有理解" in text and "10 位户号" not in text


async def test_a_form_never_asks_the_same_thing_three_times(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"绑定户号": "bind_account"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    first = await chat.text("绑定户号")
    second = await chat.text("嗯")
    assert "10 位户号" in first and "10 位户号" in second
    third = await chat.text("嗯嗯")
    assert "10 位户号" not in third and "先放一放" in third and "bind" in chat.payloads  # left, with the menu


async def test_a_follow_up_asks_the_last_question_again_for_its_month(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"2026年9月的电费": "bill_amount", "那8月呢": "inform", "用了多少度": "usage_query"})
    chat, account = await bound_chat(sessionmaker, clock, settings, nlu)
    bills = {b.period: b for b in await bills_of(sessionmaker, account.id)}
    assert "2026年9月账单" in await chat.text("2026年9月的电费")
    assert "2026年8月账单" in await chat.text("那8月呢")
    text = await chat.text("用了多少度")  # another billing topic: the same month
    assert f"2026年8月用电 {kwh(bills['2026-08'].kwh)} 度" in text


async def test_two_questions_in_one_message_are_both_answered_in_order(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    message = "电费怎么交，顺便问下你能做什么"
    nlu = demo_nlu()
    parts = (
        NluResult(text="电费怎么交", intent="payment_methods", confidence=0.9),
        NluResult(text="你能做什么", intent="help", confidence=0.9),
    )
    nlu.results[message] = NluResult(text=message, intent="payment_methods", confidence=0.9, parts=parts)
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    text = await chat.text(message)
    assert "微信" in text and "我可以帮您" in text and text.index("微信") < text.index("我可以帮您")


async def test_outages_for_a_district_typed_in_without_binding(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"西湖区古墩路有停电吗": "outage_status", "什么时候来电": "outage_status"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    text = await chat.text("西湖区古墩路有停电吗")
    assert "西湖区" in text and "先绑定户号" not in text
    assert "西湖区" in await chat.text("什么时候来电")  # the place is remembered for the follow-up


async def test_a_number_inside_the_binding_form_is_an_answer_whatever_the_nlu_made_of_it(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    account = await demo_account(sessionmaker)
    nlu = demo_nlu(**{"绑定户号": "bind_account", "12345": "out_of_scope", account.last4: "out_of_scope"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    await chat.text("绑定户号")
    assert "10 位数字" in await chat.text("12345")  # a wrong account number: said so, not declined
    await chat.text(account.number)
    assert "验证通过" in await chat.text(account.last4)  # a bare last 4 digits


async def test_another_district_after_an_outage_answer_is_the_same_question_there(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"上城区有没有停电": "outage_status", "那西湖区呢": "inform"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    assert "上城区" in await chat.text("上城区有没有停电")
    text = await chat.text("那西湖区呢")
    assert "西湖区" in text and "上城区" not in text


async def test_a_tickets_life_is_told_to_its_customer_who_can_ask_where_it_stands_and_reopen_it(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"我要报修": "report_fault", "报修进度": "report_fault", "what is going on": "out_of_scope"})
    chat = await new_chat(sessionmaker, clock, settings, nlu)
    assert "没有找到" in await chat.text("报修进度") and "intent:report_fault" in chat.payloads
    await chat.text("我要报修")
    await chat.text("整栋楼都没电了")
    await chat.text("文三路158号文华苑5幢")
    await chat.text("没有")
    [ticket] = await tickets(sessionmaker)
    assert ticket.reference in (text := await chat.text("报修进度")) and "已受理" in text

    core = CoreServices.build(settings, clock)

    async def move(status: TicketStatus) -> Message:
        async with session_scope(sessionmaker) as session:
            admin = await session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
            assert admin is not None
            await core.tickets.set_status(session, ticket.id, status, "", actor=admin, owner_id=None)
        async with sessionmaker() as session:
            last = await session.scalar(
                select(Message).where(Message.direction == "out").order_by(Message.id.desc()).limit(1)
            )
        assert last is not None
        return last

    told = await move(TicketStatus.ASSIGNED)
    assert ticket.reference in told.text and "已派抢修人员" in told.text  # in the customer's transcript
    assert "已派抢修人员" in await chat.text("报修进度")
    closed = await move(TicketStatus.CLOSED)
    assert "问题解决了吗" in closed.text
    assert [b["payload"] for b in closed.buttons] == [f"ticket:solved:{ticket.id}", f"ticket:reopen:{ticket.id}"]
    assert ticket.reference in await chat.text(payload=f"ticket:reopen:{ticket.id}")
    [reopened] = await tickets(sessionmaker)
    assert reopened.status == TicketStatus.RECEIVED
    assert "感谢" in await chat.text(payload=f"ticket:solved:{ticket.id}")
    assert "没有理解" in await chat.text(payload="ticket:reopen:999999")  # another's, or none: the menu


async def test_a_customer_inside_an_outage_hears_of_it_first_once(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    nlu = demo_nlu(**{"电费多少": "bill_amount", "怎么交": "payment_methods", "停电了吗": "outage_status"})
    chat, _ = await bound_chat(sessionmaker, clock, settings, nlu, feeder="BJ-F01")  # the demo's fault feeder
    result = await chat.send("电费多少")
    first, *answer = [reply.text for reply in result.replies]
    assert first.startswith("先告诉您") and "预计恢复供电" in first and "江南线" in first
    assert any("应缴" in text for text in answer)
    assert "先告诉您" not in await chat.text("怎么交")  # once per outage

    other, _ = await bound_chat(sessionmaker, clock, settings, nlu, feeder="BJ-F01", skip=1)
    text = await other.text("停电了吗")
    assert "先告诉您" not in text and "正在停电" in text  # the answer itself is the outage

    nlu = demo_nlu(**{"门口电线掉地上了": "report_fault"})
    third, _ = await bound_chat(sessionmaker, clock, settings, nlu, feeder="BJ-F01", skip=2)
    result = await third.send("门口电线掉地上了")
    assert "安全第一" in result.replies[0].text  # a hazard: the safety instruction before the outage
    assert any(reply.text.startswith("先告诉您") for reply in result.replies[1:])


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("我的报装申请到哪一步了", "application_status"),
        ("把电费明细发到我邮箱", "bill_email"),
        ("交费前提醒我一下", "subscribe_bill_reminders"),
        ("峰谷电价怎么算", "tariff_query"),
    ],
)
async def test_a_service_question_inside_the_fault_report_is_answered_not_taken_as_what_happened(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None, question: str, intent: str
) -> None:
    nlu = demo_nlu(**{"我要报修": "report_fault", question: intent})
    chat, _ = await bound_chat(sessionmaker, clock, settings, nlu)
    assert "发生了什么" in await chat.text("我要报修")
    text = await chat.text(question)
    assert "故障在哪里" not in text and "继续报修" in text  # answered, and the report offered again
    assert "故障在哪里" in await chat.text("整栋楼都没电了")
    await chat.text("文三路158号文华苑5幢")
    await chat.text("没有")
    [ticket] = await tickets(sessionmaker)
    assert ticket.description == "整栋楼都没电了"
