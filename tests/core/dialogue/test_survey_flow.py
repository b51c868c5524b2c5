"""The satisfaction survey in a web chat conversation, through the public contracts (the web chat API, the staff
escalation API, the worker): staff resolve the conversation → the survey arrives (GET …/messages?after=) → two
stars and a comment → a follow-up owned by the agent, due in a day; a press counts once. Also the "thanked"
trigger (a thanks right after an answer), the "quiet" one (the worker), and a new question asked instead of
the comment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Escalation, Feedback, FollowUp, Identity, IdentityAccount, KeyAccountProfile, StaffUser, Survey
from core.models.enums import EscalationState, FollowUpState, Sentiment, SurveyTrigger
from gridtalk.worker import run_worker
from tests.support.handoff import Api, running
from tests.support.notices import load_demo_world

Maker = async_sessionmaker[AsyncSession]
SHANGHAI = ZoneInfo("Asia/Shanghai")
COMMENT = "等了半天才有人理我，太慢了"
NLU = {
    "转人工": "human_handoff",
    "充电桩怎么装": "faq_ev_charger",
    "谢谢": "thanks",
    "你好": "greet",
    "我家电费多少": "bill_amount",
    "我的报装申请到哪一步了": "application_status",
    "电费明细发我邮箱": "bill_email",
    COMMENT: "complaint",  # a comment may read as a complaint: it must not reopen the resolved conversation
}


@pytest.fixture
async def api(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[Api]:
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))  # on duty
    await load_demo_world(sessionmaker, clock.now())
    async with running(settings, clock, NLU) as api:
        yield api


def star_payloads(message: dict[str, Any]) -> list[str]:
    return [button["payload"] for button in message["buttons"]]


async def test_resolved_by_staff_the_survey_arrives_two_stars_and_a_comment_make_a_follow_up(
    api: Api, sessionmaker: Maker, clock: FrozenClock
) -> None:
    customer = await api.customer()
    await customer.say("转人工")
    [item] = await api.queue()
    assert (await api.staff("agent.li", "POST", f"/{item['id']}/claim")).status_code == 200
    clock.advance(timedelta(minutes=3))
    assert (await api.staff("agent.li", "POST", f"/{item['id']}/resolve")).status_code == 200

    resolved, survey = await customer.inbox()  # what the page polls: the resolution, then the survey
    assert "智能客服继续为您服务" in resolved["text"]
    assert survey["direction"] == "out" and "打个分" in survey["text"]
    async with sessionmaker() as session:
        [row] = list(await session.scalars(select(Survey)))
        agent_id = await session.scalar(select(StaffUser.id).where(StaffUser.username == "agent.li"))
    assert star_payloads(survey) == [f"survey:{row.id}:{n}" for n in (5, 4, 3, 2, 1)]
    assert [b["title"] for b in survey["buttons"]][3] == "★★ 不满意"
    assert (row.trigger, row.agent_id, row.intent, row.channel) == (
        SurveyTrigger.RESOLVED,
        agent_id,
        "human_handoff",
        "web",
    )

    clock.advance(timedelta(minutes=1))
    asked = await customer.say(payload=f"survey:{row.id}:2")
    assert "哪里做得不好" in asked
    thanked = await customer.say(COMMENT)
    assert "意见已经记录" in thanked
    assert await api.queue() == []  # the comment did not reopen the conversation
    assert "已经评过分" in await customer.say(payload=f"survey:{row.id}:5")  # a second press counts nothing

    async with sessionmaker() as session:
        survey_row = await session.get(Survey, row.id)
        [feedback] = list(await session.scalars(select(Feedback)))
        [followup] = list(await session.scalars(select(FollowUp)))
        escalation = await session.get(Escalation, item["id"])
    assert survey_row is not None and survey_row.score == 2 and survey_row.answered_at == clock.now()
    assert (feedback.survey_id, feedback.score, feedback.comment) == (row.id, 2, COMMENT)
    assert feedback.sentiment == Sentiment.NEGATIVE
    assert (followup.survey_id, followup.owner_id, followup.state) == (row.id, agent_id, FollowUpState.OPEN)
    assert followup.due_at == clock.now() + timedelta(hours=24)
    assert escalation is not None and escalation.state == EscalationState.RESOLVED

    # the staff's side: the report counts the answer and shows the comment; the agent sees the follow-up
    report = (await api.staff("supervisor.zhou", "GET", "/api/v1/feedback/report")).json()
    assert (report["responses"], report["csat"], report["average"]) == (1, 0.0, 2.0)
    assert [c["comment"] for c in report["low_comments"]] == [COMMENT]
    [item] = (await api.staff("agent.li", "GET", "/api/v1/followups")).json()["items"]
    assert (item["id"], item["owner"], item["score"], item["comment"]) == (followup.id, "agent.li", 2, COMMENT)


async def test_a_thanks_right_after_an_answer_brings_the_survey_after_the_reply(api: Api, sessionmaker: Maker) -> None:
    customer = await api.customer("en")
    assert "charger" in (await customer.say("充电桩怎么装")).lower()
    you_are_welcome, survey = await customer.send("谢谢")
    assert "welcome" in you_are_welcome["text"] and not you_are_welcome["buttons"]
    assert "How satisfied" in survey["text"] and star_payloads(survey)[0].endswith(":5")
    assert [r["text"] for r in await customer.send("谢谢")][-1] == you_are_welcome["text"]  # once
    assert "glad" in await customer.say(payload=star_payloads(survey)[0])

    greeted = await api.customer()
    await greeted.say("你好")
    assert len(await greeted.send("谢谢")) == 1  # nothing was answered: no survey
    async with sessionmaker() as session:
        [row] = list(await session.scalars(select(Survey)))
    assert (row.trigger, row.intent, row.score, row.language) == (SurveyTrigger.THANKED, "faq_ev_charger", 5, "en")


@pytest.mark.parametrize("question", ["我家电费多少", "我的报装申请到哪一步了", "电费明细发我邮箱"])
async def test_a_new_question_instead_of_the_comment_is_answered(api: Api, sessionmaker: Maker, question: str) -> None:
    customer = await api.customer()
    await customer.say("充电桩怎么装")
    *_, survey = await customer.send("谢谢")
    assert "哪里做得不好" in await customer.say(payload=star_payloads(survey)[-1])  # one star
    answer = await customer.say(question)
    assert "绑定" in answer and "意见" not in answer  # the question is answered; it is no comment
    async with sessionmaker() as session:
        [feedback] = list(await session.scalars(select(Feedback)))
        [followup] = list(await session.scalars(select(FollowUp)))
    assert (feedback.score, feedback.comment) == (1, None)
    assert followup.owner_id is None  # nobody handled it: the supervisors' queue


async def test_a_key_account_is_asked_which_aspect_mattered_and_its_manager_owns_the_follow_up(
    api: Api, sessionmaker: Maker, clock: FrozenClock
) -> None:
    customer = await api.customer()
    async with session_scope(sessionmaker) as session:  # a key account's contact, bound already
        identity = await session.scalar(select(Identity).where(Identity.external_id == customer.session_id))
        account_id, manager_id = (
            await session.execute(
                select(KeyAccountProfile.account_id, KeyAccountProfile.account_manager_id)
                .order_by(KeyAccountProfile.account_id)
                .limit(1)
            )
        ).one()
        assert identity is not None
        session.add(IdentityAccount(identity_id=identity.id, account_id=account_id, verified_at=clock.now()))
    await customer.say("充电桩怎么装")
    *_, survey = await customer.send("谢谢")
    ask, aspects = await customer.send(payload=star_payloads(survey)[-1])
    assert "哪里做得不好" in ask["text"]
    assert [b["title"] for b in aspects["buttons"]] == ["供电可靠性", "服务质量", "投诉处理"]
    assert "已记录：供电可靠性" in await customer.say(payload=aspects["buttons"][0]["payload"])
    assert "意见已经记录" in await customer.say(COMMENT)  # the comment is still taken after the aspect
    async with sessionmaker() as session:
        row = await session.scalar(select(Survey))
        followup = await session.scalar(select(FollowUp))
        feedback = await session.scalar(select(Feedback))
    assert row is not None and (row.score, row.aspect, row.segment) == (1, "supply", "key_account")
    assert followup is not None and followup.owner_id == manager_id
    assert feedback is not None and feedback.comment == COMMENT


async def test_a_customer_quiet_after_an_answer_gets_the_survey_from_the_worker(
    api: Api, sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    customer = await api.customer()
    await customer.say("充电桩怎么装")
    clock.advance(timedelta(minutes=settings.survey_quiet_minutes))
    ticks = await run_worker(settings, once=True, clock=clock)
    assert ticks is not None and ticks["offer_surveys"] == 1
    [survey] = await customer.inbox()
    assert "打个分" in survey["text"] and len(survey["buttons"]) == 5
    assert (await run_worker(settings, once=True, clock=clock) or {})["offer_surveys"] == 0  # once
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Survey)) == 1
        row = await session.scalar(select(Survey))
    assert row is not None and (row.trigger, row.intent) == (SurveyTrigger.QUIET, "faq_ev_charger")
