"""core.demo.history: the demo's past weeks (conversations, surveys, follow-ups, notices of past outages), loaded
with load_demo(history=True) into the test database, and what the staff's report makes of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import make_sessionmaker, session_scope
from core.demo import load_demo
from core.demo.history import HISTORY_WEEKS, LOW_SCORE, build_history
from core.demo.repository import HistoryContact, HistoryParty
from core.feedback.reports import FeedbackReports
from core.feedback.repository import Scope
from core.models import (
    Conversation,
    Escalation,
    Feedback,
    FollowUp,
    KeyAccountProfile,
    Message,
    NoticeDelivery,
    Outage,
    StaffUser,
    Survey,
)
from core.models.enums import DeliveryStatus, FollowUpState, OutageStatus, Role, Stage
from core.staff.audit import AuditService
from tests.conftest import empty_tables

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def past(engine: AsyncEngine) -> AsyncIterator[Maker]:
    sessions = make_sessionmaker(engine)
    async with session_scope(sessions) as session:
        summary = await load_demo(session, NOW, force=True, history=True)
    assert summary.past_conversations > 300
    yield sessions
    await empty_tables(engine)


def test_the_plan_is_the_same_for_the_same_now_and_people() -> None:
    parties = [HistoryParty(n, 100 + n, "residential", None, "zh") for n in range(1, 20)]
    contacts = [
        HistoryContact(f"identity:{n}", n, None, 100 + n, "residential", "BJ", n, None, "zh") for n in range(1, 9)
    ]
    first, again = (build_history(NOW, SHANGHAI, parties, contacts, 1, 2) for _ in range(2))
    assert [(c.created_at, c.channel) for c, _ in first.conversations] == [
        (c.created_at, c.channel) for c, _ in again.conversations
    ]
    assert [m.text for _, m in first.messages] == [m.text for _, m in again.messages]
    assert [(s.sent_at, s.score) for _, s in first.surveys] == [(s.sent_at, s.score) for _, s in again.surveys]


async def test_weeks_of_conversations_all_in_the_past(past: Maker) -> None:
    async with past() as session:
        first = await session.scalar(select(func.min(Conversation.created_at)))
        last = await session.scalar(select(func.max(Message.created_at)))
        days = await session.scalar(select(func.count(func.distinct(func.date(Conversation.created_at)))))
        fallbacks = await session.scalar(
            select(func.count()).select_from(Message).where(Message.intent == "nlu_fallback")
        )
        late = await session.scalar(select(func.count()).select_from(Survey).where(Survey.answered_at > NOW))
    assert first is not None and last is not None
    assert NOW - first.replace(tzinfo=UTC) <= timedelta(weeks=HISTORY_WEEKS, days=1)
    assert last.replace(tzinfo=UTC) < NOW
    assert days is not None and days >= HISTORY_WEEKS * 7 - 1
    assert fallbacks and not late


async def test_hand_offs_are_answered_by_a_person_and_resolved(past: Maker) -> None:
    async with past() as session:
        escalations = list(await session.scalars(select(Escalation)))
        replies = await session.scalar(select(func.count()).select_from(Message).where(Message.staff_id.is_not(None)))
    assert escalations and replies == len(escalations)
    assert all(e.created_at < e.first_response_at < e.resolved_at for e in escalations)  # type: ignore[operator]
    late = [e for e in escalations if e.first_response_at - e.created_at > timedelta(minutes=5)]  # type: ignore[operator]
    assert 0 < len(late) < len(escalations) / 2  # mostly within the target, some not


async def test_low_scores_have_follow_ups_owned_as_the_rules_say(past: Maker) -> None:
    async with past() as session:
        low = list(await session.scalars(select(Survey).where(Survey.score <= LOW_SCORE)))
        followups = {f.survey_id: f for f in await session.scalars(select(FollowUp))}
        profiles = await session.execute(select(KeyAccountProfile.account_id, KeyAccountProfile.account_manager_id))
        managers = {account: manager for account, manager in profiles}
        agent = await session.scalar(select(StaffUser.id).where(StaffUser.role == Role.AGENT))
        answers = {
            f.survey_id: f for f in await session.scalars(select(Feedback).where(Feedback.survey_id.is_not(None)))
        }
    assert low and set(followups) == {s.id for s in low}
    for survey in low:
        owner = followups[survey.id].owner_id
        expected = managers.get(survey.account_id) if survey.account_id in managers else survey.agent_id
        assert owner == expected, survey.id
        assert answers[survey.id].score == survey.score
    states = Counter(
        (f.state, f.state == FollowUpState.OPEN and f.due_at.replace(tzinfo=UTC) < NOW) for f in followups.values()
    )
    assert states[(FollowUpState.OPEN, True)] == 1  # one overdue
    assert states[(FollowUpState.CLOSED, False)] > states[(FollowUpState.OPEN, False)]
    owners = {f.owner_id for f in followups.values()}
    assert agent in owners and owners & set(managers.values())  # the agent's and the managers' own
    assert all(a.sentiment is not None for a in answers.values() if a.comment)


async def test_past_outages_have_their_notices_delivered_and_confirmed(past: Maker) -> None:
    async with past() as session:
        outages = list(await session.scalars(select(Outage).where(Outage.ends_at < NOW)))
        rows = (
            await session.execute(select(NoticeDelivery.stage, NoticeDelivery.segment, NoticeDelivery.status))
        ).all()
    assert outages and all(o.status == OutageStatus.COMPLETED for o in outages)
    seen = Counter((stage, segment) for stage, segment, _ in rows)
    assert {s for s, _ in seen} == {Stage.FIRST, Stage.SECOND, Stage.FINAL}
    assert {g for _, g in seen} == {"key_account", "residential"}
    acked = Counter(segment for stage, segment, status in rows if status == DeliveryStatus.ACKED)
    assert acked["key_account"] and acked["residential"]
    assert all(status != DeliveryStatus.ACKED for stage, _, status in rows if stage != Stage.FINAL)


async def test_the_report_of_the_past_weeks_has_every_week_and_both_segments(past: Maker, settings: Settings) -> None:
    clock = FrozenClock(NOW)
    reports = FeedbackReports(clock, settings, AuditService(clock))
    async with past() as session:
        report = await reports.report(session, Scope.of(Role.SUPERVISOR, None))
    assert report.responses > 50 and 0.6 < (report.csat or 0) < 0.95
    assert all(week.responses for week in report.weeks[1:-1])
    assert {g.key for g in report.by_segment} >= {"key_account", "residential"}
    assert {g.key for g in report.by_channel} == {"telegram", "web"}
    assert report.low_comments
