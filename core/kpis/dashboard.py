"""The KPI dashboard (a read model): over a period (by default this ISO week and the 7 before it, weeks in the
utility's timezone), each KPI's value and its value per week; and the notice delivery and confirmation rates
per stage and segment. The database counts (KpiRepository, GROUP BY week); this module only divides. Built
once per process; a session per call; never commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.dialogue.intents import FALLBACK
from core.errors import PermissionDenied
from core.feedback.reports import FeedbackReports, Week, weeks_of
from core.feedback.repository import Scope, SurveyReportRepository
from core.kpis.repository import DeliveryWeek, HandoffWeek, KpiRepository, WeekGrid
from core.models.enums import Audience, Stage


class KpiKey(StrEnum):
    CONTAINMENT = "containment"  # share of conversations answered without a person (0-1)
    ESCALATIONS = "escalations"  # conversations handed to a person (count)
    FIRST_RESPONSE = "first_response"  # seconds from hand-off to the first staff reply (median)
    FIRST_RESPONSE_MET = "first_response_met"  # share of hand-offs answered within the target (0-1)
    CSAT = "csat"  # share of 4-5 star answers (0-1)
    NLU_FALLBACK = "nlu_fallback"  # share of inbound customer messages the NLU did not understand (0-1)


class KpiUnit(StrEnum):
    RATIO = "ratio"
    SECONDS = "seconds"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class KpiPoint:
    week: str  # ISO week in the utility's timezone, "2026-W48"
    starts_on: date  # its Monday
    value: float | None  # None: nothing to measure that week
    base: int  # how many things the value is of (conversations, answers, messages, hand-offs)


@dataclass(frozen=True, slots=True)
class Kpi:
    key: KpiKey
    unit: KpiUnit
    value: float | None  # over the whole period
    base: int
    target: float | None  # from settings where one exists (first-response target, ...), else None
    higher_is_better: bool
    weeks: list[KpiPoint]  # every week of the period, oldest first


@dataclass(frozen=True, slots=True)
class NoticeRate:
    stage: str  # 15d | 7d | 30m | initial | change | cancel | restored
    segment: str  # key_account | residential (the audience: key accounts, every other subscriber)
    due: int  # deliveries of that stage and segment due in the period
    delivered: int
    delivery_rate: float | None
    confirmable: int  # those that ask for a confirmation (the 30m stage); 0 otherwise
    confirmed: int
    confirmation_rate: float | None  # None when confirmable == 0
    weeks: list[KpiPoint]  # delivery rate per week


@dataclass(frozen=True, slots=True)
class KpiDashboard:
    start: datetime
    end: datetime
    timezone: str
    kpis: list[Kpi]  # in KpiKey order
    notices: list[NoticeRate]


# ------------------------------------------------------------------------------------------------- pure
Counts = tuple[int, int]  # (part, whole)
Measure = tuple[float | None, int]  # (value, base)
AUDIENCE_ORDER = (Audience.KEY_ACCOUNT, Audience.RESIDENTIAL)
STAGE_ORDER = tuple(Stage)


def ratio(part: int, whole: int) -> float | None:
    """part / whole, 4 decimals; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def points(weeks: Sequence[Week], measures: Mapping[int, Measure], empty: float | None = None) -> list[KpiPoint]:
    """Every week of the period, oldest first; a week without a measure gets `empty` and a base of 0."""
    return [KpiPoint(w.label, w.starts_on, *measures.get(i, (empty, 0))) for i, w in enumerate(weeks)]


def total(counts: Iterable[Counts]) -> Counts:
    part = whole = 0
    for p, w in counts:
        part, whole = part + p, whole + w
    return part, whole


def ratio_kpi(key: KpiKey, weeks: Sequence[Week], counts: Mapping[int, Counts], *, higher_is_better: bool) -> Kpi:
    """A share, per week and over the period: part / whole (the base is the whole)."""
    part, whole = total(counts.values())
    per_week = {i: (ratio(p, w), w) for i, (p, w) in counts.items()}
    return Kpi(key, KpiUnit.RATIO, ratio(part, whole), whole, None, higher_is_better, points(weeks, per_week))


def count_kpi(key: KpiKey, weeks: Sequence[Week], counts: Mapping[int, Counts]) -> Kpi:
    """A count (the part) out of a base (the whole), lower is better; a week without any counts 0."""
    part, whole = total(counts.values())
    per_week = {i: (float(p), w) for i, (p, w) in counts.items()}
    return Kpi(key, KpiUnit.COUNT, float(part), whole, None, False, points(weeks, per_week, 0.0))


def first_response_kpi(weeks: Sequence[Week], handoffs: Sequence[HandoffWeek], target_seconds: int) -> Kpi:
    """The median seconds to the first staff reply of the hand-offs answered (its base), per week and over the
    period (the middle rows the database marked, averaged)."""
    answered = sum(h.answered for h in handoffs)
    middle = sum(h.middle_count for h in handoffs)
    median = round(sum(h.middle_total for h in handoffs) / middle, 1) if middle else None
    per_week = {h.week: (None if h.median is None else round(h.median, 1), h.answered) for h in handoffs}
    return Kpi(
        KpiKey.FIRST_RESPONSE, KpiUnit.SECONDS, median, answered, float(target_seconds), False, points(weeks, per_week)
    )


def notice_rates(weeks: Sequence[Week], rows: Sequence[DeliveryWeek]) -> list[NoticeRate]:
    """One NoticeRate per stage and audience that had deliveries: key accounts first, stages in their order."""
    groups: dict[tuple[str, str], list[DeliveryWeek]] = defaultdict(list)
    for row in rows:
        groups[(row.stage, row.audience)].append(row)
    ordered = sorted(groups, key=lambda k: (AUDIENCE_ORDER.index(Audience(k[1])), STAGE_ORDER.index(Stage(k[0]))))
    return [_notice_rate(weeks, stage, audience, groups[(stage, audience)]) for stage, audience in ordered]


def _notice_rate(weeks: Sequence[Week], stage: str, audience: str, rows: Sequence[DeliveryWeek]) -> NoticeRate:
    due, delivered = sum(r.due for r in rows), sum(r.delivered for r in rows)
    confirmable, confirmed = sum(r.confirmable for r in rows), sum(r.confirmed for r in rows)
    return NoticeRate(
        stage=stage,
        segment=audience,
        due=due,
        delivered=delivered,
        delivery_rate=ratio(delivered, due),
        confirmable=confirmable,
        confirmed=confirmed,
        confirmation_rate=ratio(confirmed, confirmable),
        weeks=points(weeks, {r.week: (ratio(r.delivered, r.due), r.due) for r in rows}),
    )


# ---------------------------------------------------------------------------------------------- service
class KpiService:
    def __init__(self, clock: Clock, settings: Settings, reports: FeedbackReports) -> None:
        self.clock = clock
        self.reports = reports  # the period's defaults and limits are the satisfaction report's
        self.tz = settings.tz
        self.timezone = settings.timezone
        self.target_seconds = settings.escalation_first_response_minutes * 60

    async def dashboard(
        self, session: AsyncSession, scope: Scope, start: datetime | None = None, end: datetime | None = None
    ) -> KpiDashboard:
        """The KPIs of [start, end) (default: this ISO week and the 7 before it) that `scope` reaches: everything,
        or an account manager's key accounts. An agent's scope is refused (the KPIs are not theirs to read)."""
        if scope.agent_id is not None:
            raise PermissionDenied("the KPIs are for supervisors and account managers")
        period = self.reports.period(start, end)
        weeks = weeks_of(period, self.tz)
        starts = [w.begins for w in weeks[1:]]
        repo = KpiRepository(session, period.start, period.end, WeekGrid(self.timezone, weeks[0].starts_on, starts))
        await repo.prepare()
        conversations = await repo.conversations(scope)
        overdue_before = self.clock.now() - timedelta(seconds=self.target_seconds)
        handoffs = await repo.handoffs(scope, target_seconds=self.target_seconds, overdue_before=overdue_before)
        surveys = await SurveyReportRepository(session).tallies(period.start, period.end, scope, by=starts)
        messages = await repo.messages(scope, FALLBACK)
        started = {c.week: c for c in conversations}
        kpis = [
            ratio_kpi(
                KpiKey.CONTAINMENT,
                weeks,
                {i: (c.conversations - c.escalated, c.conversations) for i, c in started.items()},
                higher_is_better=True,
            ),
            count_kpi(KpiKey.ESCALATIONS, weeks, {i: (c.escalated, c.conversations) for i, c in started.items()}),
            first_response_kpi(weeks, handoffs, self.target_seconds),
            ratio_kpi(
                KpiKey.FIRST_RESPONSE_MET,
                weeks,
                {h.week: (h.met, h.answered + h.overdue) for h in handoffs},
                higher_is_better=True,
            ),
            ratio_kpi(
                KpiKey.CSAT, weeks, {int(t.key): (t.satisfied, t.responses) for t in surveys}, higher_is_better=True
            ),
            ratio_kpi(
                KpiKey.NLU_FALLBACK, weeks, {m.week: (m.fallback, m.parsed) for m in messages}, higher_is_better=False
            ),
        ]
        return KpiDashboard(
            start=period.start,
            end=period.end,
            timezone=self.timezone,
            kpis=kpis,
            notices=notice_rates(weeks, await repo.deliveries(scope)),
        )
