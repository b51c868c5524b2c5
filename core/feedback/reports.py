"""The satisfaction report (a read model): over a period, the surveys sent and answered, the response rate,
CSAT (the share of 4- and 5-star answers, 0-1) and the average score — overall and per channel, segment,
agent, intent and ISO week (the trend, weeks in the utility's timezone) —, the comments of low scores, and
free-text comments counted by sentiment. And its CSV export (audited; phone and account numbers masked).

A survey counts in the period it was SENT in (surveys.sent_at, indexed): its answer, however late, counts
there too, so the response rate of a week is that of the surveys sent that week. The figures are counted by
the database (SurveyReportRepository, GROUP BY); this module only divides. Built once per process; a session
per call; never commits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import InvalidInput
from core.feedback.repository import Grouping, Scope, SurveyReportRepository, Tally
from core.models.enums import Sentiment
from core.security import mask_account, mask_digits
from core.staff.audit import Actor, AuditService

DEFAULT_WEEKS = 8  # the default period: this week and the 7 before it
MAX_DAYS = 371  # the longest period a report covers (53 weeks)
LOW_COMMENTS = 50  # low-score comments a report lists (the newest; their total is given)


class FeedbackAction(StrEnum):
    EXPORT = "feedback.export"  # the CSV export of answered surveys and their comments


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end), UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Week:
    label: str  # ISO week, "2026-W48"
    starts_on: date  # its Monday (local)
    begins: datetime  # when it begins within the period (UTC): its Monday 00:00 local, or the period's start


@dataclass(frozen=True, slots=True)
class Figures:
    sent: int
    responses: int
    response_rate: float | None  # responses / sent; None when none was sent
    csat: float | None  # share of 4-5 among the answers, 0-1; None when no answer
    average: float | None  # mean score of the answers; None when no answer


@dataclass(frozen=True, slots=True)
class GroupFigures:
    key: str | None  # the channel, segment, agent's username or intent (None: not known / no agent)
    sent: int
    responses: int
    response_rate: float | None
    csat: float | None
    average: float | None


@dataclass(frozen=True, slots=True)
class WeekFigures:
    week: str
    starts_on: date
    sent: int
    responses: int
    response_rate: float | None
    csat: float | None
    average: float | None


@dataclass(frozen=True, slots=True)
class LowComment:
    survey_id: int
    conversation_id: int
    answered_at: datetime | None
    score: int
    comment: str  # phone and account numbers masked
    sentiment: str | None
    channel: str
    segment: str | None
    agent: str | None
    intent: str | None


@dataclass(frozen=True, slots=True)
class CommentCounts:
    """Free-text comments (with a survey answer or written in the chat) by the sentiment of their words."""

    positive: int
    neutral: int
    negative: int
    unread: int  # no sentiment stored
    total: int


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    start: datetime
    end: datetime
    timezone: str
    low_score: int
    sent: int
    responses: int
    response_rate: float | None
    csat: float | None
    average: float | None
    by_channel: list[GroupFigures]
    by_segment: list[GroupFigures]
    by_agent: list[GroupFigures]
    by_intent: list[GroupFigures]
    weeks: list[WeekFigures]
    low_comments: list[LowComment]
    low_comments_total: int
    comments: CommentCounts


# ------------------------------------------------------------------------------------------------- pure
def figures(tally: Tally | None) -> Figures:
    """Rates from counts: response rate, CSAT (0-1, 4 decimals), average (2 decimals); None where undefined."""
    if tally is None:
        return Figures(0, 0, None, None, None)
    answered = tally.responses
    return Figures(
        sent=tally.sent,
        responses=answered,
        response_rate=round(answered / tally.sent, 4) if tally.sent else None,
        csat=round(tally.satisfied / answered, 4) if answered else None,
        average=round(tally.score_total / answered, 2) if answered else None,
    )


def weeks_of(period: Period, tz: ZoneInfo) -> list[Week]:
    """The ISO weeks (Monday to Sunday, local) the period touches, in order."""
    first = period.start.astimezone(tz).date()
    monday = first - timedelta(days=first.weekday())
    weeks: list[Week] = []
    while (begins := datetime.combine(monday, time(), tzinfo=tz).astimezone(UTC)) < period.end:
        year, number, _ = monday.isocalendar()
        weeks.append(Week(f"{year}-W{number:02d}", monday, max(begins, period.start)))
        monday += timedelta(days=7)
    return weeks


def default_start(end: datetime, tz: ZoneInfo, weeks: int = DEFAULT_WEEKS) -> datetime:
    """Monday 00:00 (local) of the week `weeks - 1` weeks before the one `end` falls in."""
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    monday = last - timedelta(days=last.weekday(), weeks=weeks - 1)
    return datetime.combine(monday, time(), tzinfo=tz).astimezone(UTC)


def _grouped(tallies: Iterable[Tally]) -> list[GroupFigures]:
    """Most answers first, then by key (None last)."""
    ordered = sorted(tallies, key=lambda t: (-t.responses, -t.sent, t.key is None, str(t.key or "")))
    return [GroupFigures(None if t.key is None else str(t.key), *_values(figures(t))) for t in ordered]


def _values(f: Figures) -> tuple[int, int, float | None, float | None, float | None]:
    return f.sent, f.responses, f.response_rate, f.csat, f.average


def _counts(by_sentiment: dict[str | None, int]) -> CommentCounts:
    known = {str(s): n for s, n in by_sentiment.items() if s is not None}
    return CommentCounts(
        positive=known.get(Sentiment.POSITIVE, 0),
        neutral=known.get(Sentiment.NEUTRAL, 0),
        negative=known.get(Sentiment.NEGATIVE, 0),
        unread=by_sentiment.get(None, 0),
        total=sum(by_sentiment.values()),
    )


CSV_COLUMNS = (
    "survey_id",
    "sent_at",
    "answered_at",
    "channel",
    "language",
    "segment",
    "agent",
    "intent",
    "trigger",
    "score",
    "aspect",
    "account_number",
    "comment",
    "sentiment",
    "followup",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell a spreadsheet would run as a formula


def _cell(value: Any, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def to_csv(rows: Sequence[Any], tz: ZoneInfo) -> str:
    """The export's text: a header, one line per answer (times local with their offset; account numbers and
    the phone and account numbers in comments masked; formula-like cells quoted), a BOM for spreadsheets."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = dict(row._mapping)
        values["account_number"] = mask_account(values["account_number"]) or None
        values["comment"] = mask_digits(values["comment"]) if values["comment"] else None
        writer.writerow([_cell(values[column], tz) for column in CSV_COLUMNS])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- service
class FeedbackReports:
    def __init__(self, clock: Clock, settings: Settings, audit: AuditService) -> None:
        self.clock = clock
        self.tz = settings.tz
        self.timezone = settings.timezone
        self.low_score = settings.survey_low_score
        self.audit = audit

    def period(self, start: datetime | None = None, end: datetime | None = None) -> Period:
        """[start, end): by default up to now, from the Monday (local) of the week 7 weeks before; at most
        MAX_DAYS long."""
        end = (end or self.clock.now()).astimezone(UTC)
        start = (start or default_start(end, self.tz)).astimezone(UTC)
        if start >= end:
            raise InvalidInput("the period's start (from) must come before its end (to)", field="from")
        if end - start > timedelta(days=MAX_DAYS):
            raise InvalidInput(f"a report covers at most {MAX_DAYS} days", field="from")
        return Period(start, end)

    async def report(
        self, session: AsyncSession, scope: Scope, start: datetime | None = None, end: datetime | None = None
    ) -> FeedbackReport:
        period = self.period(start, end)
        repo = SurveyReportRepository(session)
        span = (period.start, period.end, scope)
        overall = await repo.tallies(*span)
        weeks = weeks_of(period, self.tz)
        per_week = {t.key: t for t in await repo.tallies(*span, by=[w.begins for w in weeks[1:]])}
        low, low_total = await repo.low_comments(*span, self.low_score, LOW_COMMENTS)
        return FeedbackReport(
            start=period.start,
            end=period.end,
            timezone=self.timezone,
            low_score=self.low_score,
            **asdict(figures(overall[0] if overall else None)),
            by_channel=_grouped(await repo.tallies(*span, by=Grouping.CHANNEL)),
            by_segment=_grouped(await repo.tallies(*span, by=Grouping.SEGMENT)),
            by_agent=_grouped(await repo.tallies(*span, by=Grouping.AGENT)),
            by_intent=_grouped(await repo.tallies(*span, by=Grouping.INTENT)),
            weeks=[WeekFigures(w.label, w.starts_on, *_values(figures(per_week.get(i)))) for i, w in enumerate(weeks)],
            low_comments=[
                LowComment(
                    survey_id=r.survey_id,
                    conversation_id=r.conversation_id,
                    answered_at=r.answered_at,
                    score=r.score,
                    comment=mask_digits(r.comment),
                    sentiment=None if r.sentiment is None else str(r.sentiment),
                    channel=str(r.channel),
                    segment=r.segment,
                    agent=r.agent,
                    intent=r.intent,
                )
                for r in low
            ],
            low_comments_total=low_total,
            comments=_counts(await repo.comment_sentiments(*span)),
        )

    async def export_csv(
        self,
        session: AsyncSession,
        scope: Scope,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        actor: Actor,
        client: str | None = None,
    ) -> tuple[Period, str]:
        """The answered surveys of the period with their comments, as CSV (masked); the export is audited."""
        period = self.period(start, end)
        rows = await SurveyReportRepository(session).answers(period.start, period.end, scope)
        self.audit.record(
            session,
            actor,
            FeedbackAction.EXPORT,
            "feedback_report",
            detail={"from": period.start, "to": period.end, "rows": len(rows)},
            client=client,
        )
        return period, to_csv(rows, self.tz)
