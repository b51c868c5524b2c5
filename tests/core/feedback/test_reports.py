"""The satisfaction report on a small hand-made data set (tests/core/feedback/feedback_world.py): CSAT, average
and response rate overall and per channel, segment, agent, intent and ISO week (in Shanghai, across the
Sunday/Monday boundary UTC gets wrong), the low-score comments (masked, newest first), comments by sentiment,
what an account manager and an agent see, the period's defaults and limits, and the CSV export (masked,
audited). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import InvalidInput
from core.feedback.reports import FeedbackReport, FeedbackReports, GroupFigures, Period, figures, weeks_of
from core.feedback.repository import EVERYTHING, Scope, Tally
from core.models import AuditLog, Feedback
from core.staff.audit import AuditService
from tests.core.feedback.feedback_world import K1, PHONE, RESIDENT, SHANGHAI, FeedbackWorld, load_feedback_world, local


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> FeedbackWorld:
    return await load_feedback_world(sessionmaker)


@pytest.fixture
def reports(clock: FrozenClock, settings: Settings) -> FeedbackReports:
    return FeedbackReports(clock, settings, AuditService(clock))


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    reports: FeedbackReports,
    scope: Scope = EVERYTHING,
    **period: datetime,
) -> FeedbackReport:
    async with sessionmaker() as session:
        return await reports.report(session, scope, period.get("start"), period.get("end"))


def group(rows: list[GroupFigures]) -> list[tuple[str | None, int, int, float | None, float | None, float | None]]:
    return [(g.key, g.sent, g.responses, g.response_rate, g.csat, g.average) for g in rows]


# -- pure ---------------------------------------------------------------------------------------------------


def test_figures_divide_counts_and_are_null_where_nothing_divides() -> None:
    f = figures(Tally(None, sent=7, responses=5, satisfied=2, score_total=15))
    assert (f.sent, f.responses, f.response_rate, f.csat, f.average) == (7, 5, 0.7143, 0.4, 3.0)
    unanswered = figures(Tally(None, 3, 0, 0, 0))
    assert (unanswered.response_rate, unanswered.csat, unanswered.average) == (0.0, None, None)
    nothing = figures(None)
    assert (nothing.sent, nothing.response_rate, nothing.csat, nothing.average) == (0, None, None, None)


def test_weeks_are_iso_weeks_in_the_utility_timezone() -> None:
    # Sunday 22 Nov 20:00 Shanghai (12:00 UTC) to Tuesday 24 Nov: two weeks, W47 clipped to the period's start
    period = Period(local(11, 22, 20), local(11, 24, 0))
    weeks = weeks_of(period, SHANGHAI)
    assert [(w.label, w.starts_on.isoformat()) for w in weeks] == [
        ("2026-W47", "2026-11-16"),
        ("2026-W48", "2026-11-23"),
    ]
    assert weeks[0].begins == period.start
    assert weeks[1].begins == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
    # a period ending exactly at a Monday midnight does not touch that week
    assert [w.label for w in weeks_of(Period(local(11, 16, 0), local(11, 23, 0)), SHANGHAI)] == ["2026-W47"]
    # ISO years: 28 Dec 2026 is 2026-W53, 4 Jan 2027 2027-W01
    turn = weeks_of(Period(local(12, 28, 0), local(12, 28, 0) + timedelta(days=8)), SHANGHAI)
    assert [w.label for w in turn] == ["2026-W53", "2027-W01"]


# -- the report ---------------------------------------------------------------------------------------------


async def test_overall_figures_of_the_default_period(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    report = await run(sessionmaker, reports)
    # the default period: Monday 5 Oct (W41) 00:00 in Shanghai up to now; September's surveys are out
    assert report.start == local(10, 5, 0) and report.end == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert report.timezone == "Asia/Shanghai" and report.low_score == 2
    # s1 s2 s3 s4 s5 s6 s8 sent; s1 (5) s2 (4) s3 (1) s5 (2) s8 (3) answered
    assert (report.sent, report.responses) == (7, 5)
    assert report.response_rate == 0.7143  # 5 / 7
    assert report.csat == 0.4  # 5 and 4 of five answers
    assert report.average == 3.0  # 15 / 5


async def test_figures_per_channel_segment_agent_and_intent(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    report = await run(sessionmaker, reports)
    assert group(report.by_channel) == [
        ("web", 4, 3, 0.75, 0.3333, 3.33),  # s1 5, s5 2, s8 3; s4 unanswered
        ("telegram", 3, 2, 0.6667, 0.5, 2.5),  # s2 4, s3 1; s6 unanswered
    ]
    assert group(report.by_segment) == [
        ("residential", 4, 3, 0.75, 0.6667, 3.67),  # s1 5, s2 4, s5 2; s4
        ("key_account", 2, 1, 0.5, 0.0, 1.0),  # s3 1; s6
        ("commercial", 1, 1, 1.0, 0.0, 3.0),  # s8 3
    ]
    assert group(report.by_agent) == [
        ("alice", 4, 3, 0.75, 0.3333, 3.0),  # s1 5, s3 1, s8 3; s6
        ("bob", 2, 1, 0.5, 0.0, 2.0),  # s5 2; s4
        (None, 1, 1, 1.0, 1.0, 4.0),  # s2: the bot alone
    ]
    assert group(report.by_intent) == [
        ("outage_status", 3, 2, 0.6667, 0.5, 2.5),
        ("bill_amount", 2, 2, 1.0, 0.5, 3.5),
        ("payment_methods", 1, 1, 1.0, 0.0, 3.0),
        ("bill_explain", 1, 0, 0.0, None, None),
    ]


async def test_the_weekly_trend_lists_every_week_in_shanghai_time(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    report = await run(sessionmaker, reports)
    weeks = {w.week: (w.sent, w.responses, w.response_rate, w.csat, w.average) for w in report.weeks}
    assert list(weeks) == [f"2026-W{n}" for n in range(41, 49)]
    assert report.weeks[0].starts_on.isoformat() == "2026-10-05"
    assert weeks["2026-W45"] == (1, 1, 1.0, 0.0, 3.0)  # s8
    assert weeks["2026-W47"] == (4, 3, 0.75, 0.6667, 3.33)  # s1 s2 s3 s4
    # s5 was sent on Monday 00:30 in Shanghai — Sunday in UTC — so W48 has it
    assert weeks["2026-W48"] == (2, 1, 0.5, 0.0, 2.0)  # s5 s6
    for empty in ("2026-W41", "2026-W42", "2026-W43", "2026-W44", "2026-W46"):
        assert weeks[empty] == (0, 0, None, None, None)


async def test_low_score_comments_newest_first_masked_and_comments_by_sentiment(  # type: ignore[no-untyped-def]
    world: FeedbackWorld, sessionmaker, reports
) -> None:
    report = await run(sessionmaker, reports)
    low = [(c.survey_id, c.score, c.sentiment, c.agent, c.channel) for c in report.low_comments]
    assert low == [
        (world.surveys["s5"], 2, "negative", "bob", "web"),
        (world.surveys["s3"], 1, "negative", "alice", "telegram"),
    ]  # s9 (1 star) was sent before the period; s1's comment is a 5
    assert report.low_comments_total == 2
    s5, s3 = (c.comment for c in report.low_comments)
    assert s5 == "户号33******03账单不对" and RESIDENT not in s5
    assert s3 == "停电太久，打138********没人接" and PHONE not in s3
    # with a survey: s1 positive, s3 and s5 negative; in the chat: positive (20 Nov), neutral (21 Nov)
    c = report.comments
    assert (c.positive, c.neutral, c.negative, c.unread, c.total) == (2, 1, 2, 0, 5)


async def test_an_explicit_period_and_its_limits(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    # W47 exactly: Monday 16 Nov 00:00 to Monday 23 Nov 00:00 in Shanghai; s5 (00:30 on the 23rd) is out
    report = await run(sessionmaker, reports, start=local(11, 16, 0), end=local(11, 23, 0))
    assert [w.week for w in report.weeks] == ["2026-W47"]
    assert (report.sent, report.responses, report.csat, report.average) == (4, 3, 0.6667, 3.33)
    assert [c.survey_id for c in report.low_comments] == [world.surveys["s3"]]
    # September: s9 (1) and s10 (2) answered, the chat's negative comment of 1 Sep counted
    september = await run(sessionmaker, reports, start=local(9, 1, 0), end=local(10, 1, 0))
    assert (september.sent, september.responses, september.csat, september.average) == (2, 2, 0.0, 1.5)
    assert (september.comments.negative, september.comments.total) == (2, 2)
    # only `from`: up to now
    since = await run(sessionmaker, reports, start=local(11, 23, 0))
    assert (since.sent, since.end) == (2, datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    with pytest.raises(InvalidInput) as backwards:
        await run(sessionmaker, reports, start=local(11, 23, 0), end=local(11, 16, 0))
    assert backwards.value.field == "from"
    with pytest.raises(InvalidInput):
        await run(sessionmaker, reports, start=local(1, 1, 0) - timedelta(days=60), end=local(11, 23, 0))


async def test_an_empty_period_has_counts_of_zero_and_no_rates(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    report = await run(sessionmaker, reports, start=local(6, 1, 0), end=local(6, 8, 0))
    assert (report.sent, report.responses, report.response_rate, report.csat, report.average) == (
        0,
        0,
        None,
        None,
        None,
    )
    assert report.by_channel == report.by_agent == []
    assert report.low_comments == []
    assert [(w.week, w.sent, w.csat) for w in report.weeks] == [("2026-W23", 0, None)]
    assert report.comments.total == 0


async def test_an_account_manager_sees_their_key_accounts_and_an_agent_their_own(  # type: ignore[no-untyped-def]
    world: FeedbackWorld, sessionmaker, reports
) -> None:
    wang = await run(sessionmaker, reports, Scope.of("account_manager", world.staff["wang"]))
    assert (wang.sent, wang.responses, wang.csat, wang.average) == (1, 1, 0.0, 1.0)  # s3 (K1)
    assert [c.survey_id for c in wang.low_comments] == [world.surveys["s3"]]
    # s3's comment, and the chat comment of the identity bound to K1
    assert (wang.comments.negative, wang.comments.neutral, wang.comments.total) == (1, 1, 2)
    zhao = await run(sessionmaker, reports, Scope.of("account_manager", world.staff["zhao"]))
    assert (zhao.sent, zhao.responses, zhao.csat) == (1, 0, None)  # s6 (K2), unanswered
    alice = await run(sessionmaker, reports, Scope.of("agent", world.staff["alice"]))
    assert (alice.sent, alice.responses, alice.csat, alice.average) == (4, 3, 0.3333, 3.0)  # s1 s3 s6 s8
    assert [g.key for g in alice.by_agent] == ["alice"]
    assert (alice.comments.positive, alice.comments.negative, alice.comments.total) == (1, 1, 2)  # no chat ones
    bob = await run(sessionmaker, reports, Scope.of("agent", world.staff["bob"]))
    assert [c.survey_id for c in bob.low_comments] == [world.surveys["s5"]]


async def test_the_csv_export_is_masked_and_audited(world: FeedbackWorld, sessionmaker, reports) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        period, text = await reports.export_csv(
            session, EVERYTHING, local(11, 1, 0), local(11, 24, 0), actor=world.staff["super.fb"], client="10.0.0.9"
        )
    assert period == Period(local(11, 1, 0), local(11, 24, 0))
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    # the answered surveys in the order they were answered: s8, s1, s2, s3, s5
    ids = {v: k for k, v in world.surveys.items()}
    assert [ids[int(r["survey_id"])] for r in rows] == ["s8", "s1", "s2", "s3", "s5"]
    by_name = {ids[int(r["survey_id"])]: r for r in rows}
    s3 = by_name["s3"]
    assert (s3["score"], s3["channel"], s3["segment"], s3["agent"], s3["followup"]) == (
        "1",
        "telegram",
        "key_account",
        "alice",
        "open",
    )
    assert s3["account_number"] == K1[:2] + "******" + K1[-2:]
    assert s3["comment"] == "停电太久，打138********没人接" and s3["sentiment"] == "negative"
    assert s3["sent_at"] == "2026-11-18T10:00:00+08:00"  # local time, with its offset
    assert by_name["s5"]["comment"] == "户号33******03账单不对"
    assert (by_name["s2"]["agent"], by_name["s2"]["comment"], by_name["s2"]["account_number"]) == ("", "", "")
    assert PHONE not in text and RESIDENT not in text and K1 not in text
    async with sessionmaker() as session:
        audit = (await session.scalars(select(AuditLog).where(AuditLog.action == "feedback.export"))).one()
    assert (audit.staff_id, audit.target_type, audit.client) == (world.staff["super.fb"], "feedback_report", "10.0.0.9")
    assert audit.detail["rows"] == 5 and audit.detail["from"] == local(11, 1, 0).isoformat()


async def test_a_comment_that_looks_like_a_formula_is_quoted_in_the_csv(  # type: ignore[no-untyped-def]
    world: FeedbackWorld, sessionmaker, reports
) -> None:
    async with session_scope(sessionmaker) as session:
        feedback = (await session.scalars(select(Feedback).where(Feedback.survey_id == world.surveys["s2"]))).one()
        feedback.comment = '=HYPERLINK("http://x")'
    async with session_scope(sessionmaker) as session:
        _period, text = await reports.export_csv(session, EVERYTHING, actor=None)
    rows = {int(r["survey_id"]): r for r in csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))}
    assert rows[world.surveys["s2"]]["comment"] == '\'=HYPERLINK("http://x")'
