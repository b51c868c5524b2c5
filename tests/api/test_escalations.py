"""Human handoff through the public contracts: a web chat customer asks for a person, staff see it in the
queue, claim it, reply (the customer receives it through GET …/messages?after=), resolve it, and the bot
answers again; the waiting conversation, overdue ones, after-hours, roles, and a restart of the api."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import AuditLog, NoticeDelivery, StaffUser
from core.models.enums import SubjectKind
from tests.support.handoff import Api, Customer, running
from tests.support.notices import SHANGHAI, load_demo_world
from tests.support.services import core_services

NLU = {
    "转人工": "human_handoff",
    "我的电费算错了": "bill_explain",
    "你好": "greet",
    "我家电费多少": "bill_amount",
    "我要投诉": "complaint",
}


@pytest.fixture
async def world(sessionmaker, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))  # on duty
    await load_demo_world(sessionmaker, clock.now())


@pytest.fixture
async def api(world: None, settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    async with running(settings, clock, NLU) as api:
        yield api


async def test_handoff_from_the_web_chat_to_an_agent_and_back_to_the_bot(api: Api, clock: FrozenClock) -> None:
    customer = await api.customer()
    said = await customer.say("转人工")
    assert "已为您转接人工客服" in said and "您排在第 1 位" in said
    [item] = await api.queue()
    assert (item["session_id"], item["reason"], item["priority"], item["state"]) == (
        customer.session_id,
        "human_handoff",
        "normal",
        "pending",
    )
    assert item["overdue"] is False and item["assignee"] is None and item["telegram_chat_id"] is None

    # while waiting the bot does not answer the question: it goes to the agent
    said = await customer.say("我的电费算错了")
    assert "已转给人工客服" in said and "电费" not in said

    claimed = await api.staff("agent.li", "POST", f"/{item['id']}/claim")
    assert claimed.status_code == 200 and claimed.json()["state"] == "assigned"
    assert await customer.say("在吗") == ""  # a person has it: no bot answer, the agent reads it
    detail = (await api.staff("agent.li", "GET", f"/{item['id']}")).json()
    lines = [(line["direction"], line["text"], line["intent"]) for line in detail["transcript"]]
    assert ("in", "我的电费算错了", "bill_explain") in lines and ("in", "在吗", "nlu_fallback") in lines

    replied = await api.staff(
        "agent.li", "POST", f"/{item['id']}/reply", json={"text": "您好，我是客服李娜，正在为您核对账单。"}
    )
    assert replied.status_code == 200 and replied.json()["first_response_at"] is not None
    arrived = await customer.inbox()
    assert [m["text"] for m in arrived if m["direction"] == "out"] == ["您好，我是客服李娜，正在为您核对账单。"]

    resolved = await api.staff("agent.li", "POST", f"/{item['id']}/resolve")
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert any("智能客服继续为您服务" in m["text"] for m in await customer.inbox())
    assert "您好" in await customer.say("你好")  # the bot answers again (a greeting never reopens it)
    assert await api.queue() == []

    clock.advance(timedelta(minutes=31))  # past the reopen window: a question is the bot's again
    assert "户号" in await customer.say("我家电费多少")
    assert await api.queue() == []


async def test_writing_soon_after_resolving_reopens_and_a_second_ask_keeps_one_escalation(api: Api) -> None:
    customer = await api.customer()
    await customer.say("转人工")
    assert "已经在人工客服的处理队列中" in await customer.say("我要投诉")
    [item] = await api.queue()
    assert item["priority"] == "high"  # the complaint raised it
    assert (await api.staff("agent.li", "POST", f"/{item['id']}/resolve")).status_code == 200
    said = await customer.say("我的电费算错了")  # within the reopen window
    assert "已转给人工客服" in said
    [again] = await api.queue()
    assert again["id"] == item["id"] and again["state"] == "pending"


async def test_overdue_escalations_are_flagged_supervisors_alerted_and_the_customer_told(
    api: Api, sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    customer = await api.customer()
    await customer.say("转人工")
    clock.advance(timedelta(minutes=6))
    [item] = await api.queue()
    assert item["overdue"] is True
    async with session_scope(sessionmaker) as session:
        assert await core_services(clock, settings).escalations.chase_overdue(session) == 1
    async with session_scope(sessionmaker) as session:
        assert await core_services(clock, settings).escalations.chase_overdue(session) == 0  # once
    async with sessionmaker() as session:
        alerts = list(
            await session.scalars(select(NoticeDelivery).where(NoticeDelivery.subject_kind == SubjectKind.ESCALATION))
        )
    assert alerts and {a.stage for a in alerts} == {"overdue"} and {a.subject_id for a in alerts} == {item["id"]}
    assert any("久等" in m["text"] for m in await customer.inbox())
    await api.staff("agent.li", "POST", f"/{item['id']}/reply", json={"text": "抱歉久等"})
    assert (await api.queue())[0]["overdue"] is False


async def test_after_hours_the_customer_is_told_when_a_person_answers(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI))
    await load_demo_world(sessionmaker, clock.now())
    async with running(settings, clock, NLU) as api:
        customer = await api.customer("en")
        said = await customer.say("转人工")
        assert "off duty" in said and "2026-12-01 08:00" in said and "day and night" in said
        clock.advance(timedelta(hours=8, minutes=30))  # 07:30: still waiting for the morning queue
        assert (await api.queue())[0]["overdue"] is False
        clock.advance(timedelta(minutes=40))  # 08:10
        assert (await api.queue())[0]["overdue"] is True


async def test_a_hazard_while_waiting_gets_the_safety_instruction_at_once(api: Api) -> None:
    customer = await api.customer()
    await customer.say("转人工")
    said = await customer.say("门口电线掉下来了，还在冒火花")
    assert "安全第一" in said
    [item] = await api.queue()
    assert item["priority"] == "high"


async def test_roles_own_key_accounts_and_audit(api: Api, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    customer = await api.customer()
    await customer.say("转人工")
    [item] = await api.queue()
    assert await api.queue("manager.wang") == []  # not one of their key accounts
    assert (await api.staff("manager.wang", "POST", f"/{item['id']}/claim")).status_code == 404
    assert (await api.staff("agent.li", "POST", f"/{item['id']}/assign", json={"staff_id": 1})).status_code == 403
    async with sessionmaker() as session:
        agent_id = await session.scalar(select(AuditLog.staff_id).where(AuditLog.action == "auth.token").limit(1))
    supervisor = await api.staff("supervisor.zhou", "POST", f"/{item['id']}/assign", json={"staff_id": agent_id})
    assert supervisor.status_code == 200 and supervisor.json()["assignee_id"] == agent_id
    assert (
        await api.staff("supervisor.zhou", "POST", f"/{item['id']}/assign", json={"staff_id": 10**9})
    ).status_code == 422
    assert (await api.http.get("/api/v1/escalations")).status_code == 401
    # assigned to an account manager outside their key accounts: in their queue, as it is theirs to open
    async with sessionmaker() as session:
        manager_id = await session.scalar(select(StaffUser.id).where(StaffUser.username == "manager.wang"))
    handed = await api.staff("supervisor.zhou", "POST", f"/{item['id']}/assign", json={"staff_id": manager_id})
    assert handed.status_code == 200
    assert [row["id"] for row in await api.queue("manager.wang")] == [item["id"]]
    assert (await api.staff("manager.wang", "GET", f"/{item['id']}")).status_code == 200
    async with sessionmaker() as session:
        actions = set(await session.scalars(select(AuditLog.action).where(AuditLog.target_type == "escalation")))
    assert actions == {"escalation.assign"}


async def test_what_the_customer_wrote_while_waiting_survives_an_api_restart(
    world: None, settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock, NLU) as api:
        customer = await api.customer()
        await customer.say("转人工")
        session_id = customer.session_id
    async with running(settings, clock, NLU) as api:  # a new api process: the conversation state is gone
        customer = Customer(api.http, session_id)
        assert "已转给人工客服" in await customer.say("我的电费算错了")
        [item] = await api.queue()
        detail = (await api.staff("agent.li", "GET", f"/{item['id']}")).json()
        assert [line["text"] for line in detail["transcript"] if line["direction"] == "in"] == [
            "转人工",
            "我的电费算错了",
        ]
