"""The SQL of the KPI dashboard. Inside the caller's session; never commits.

Each query covers the whole period and counts per ISO week in the database (GROUP BY the week's index, see
WeekGrid); the service sums the weeks for the period's figures. One query per source, each driven by its time
column: conversations.created_at and messages.created_at (migration 0012's indexes), escalations.created_at (a
small table), notice_deliveries.due_at (ix_notice_deliveries_due); CSAT comes from the satisfaction report's
SurveyReportRepository. bench/kpi.py shows their plans and times at a million conversations.

Scope (core.feedback.repository): everything, or an account manager's key accounts — the conversations of
identities bound to them, the escalations and notice deliveries of those accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.feedback.repository import Scope, _managed_accounts
from core.models import Conversation, Escalation, IdentityAccount, Message, NoticeDelivery
from core.models.enums import Audience, DeliveryStatus, Direction, Segment, Stage, SubjectKind

DELIVERED = (DeliveryStatus.SENT, DeliveryStatus.ACKED)
SECONDS_A_DAY = 86_400
SECONDS_A_WEEK = 7 * SECONDS_A_DAY
CONFIRMING = Stage.FINAL  # the notice that asks for a confirmation


# ------------------------------------------------------------------------------------------- expressions
class seconds_between(FunctionElement[float]):
    """`later - earlier` in seconds (NULL when either is NULL), on PostgreSQL and SQLite."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', {later} - {earlier})"  # a double (EXTRACT gives a slower numeric)


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # julianday is a double: rounded to the millisecond so that whole seconds compare exactly
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def week_index(column: Any, week_starts: Sequence[datetime]) -> ColumnElement[Any]:
    """0 for a row before week_starts[0] (the 2nd week's start), i for one in [week_starts[i-1], week_starts[i]),
    len(week_starts) after the last: a balanced CASE, a handful of comparisons whatever the period's length."""

    def among(low: int, high: int) -> ColumnElement[Any]:
        if low == high:
            return literal_column(str(low))
        middle = (low + high + 1) // 2
        return case((column < week_starts[middle - 1], among(low, middle - 1)), else_=among(middle, high))

    return among(0, len(week_starts))


@dataclass(frozen=True, slots=True)
class WeekGrid:
    """The ISO weeks of a period in the utility's timezone, for grouping rows by week in the database."""

    timezone: str
    first_monday: date  # the first week's Monday (local)
    starts: Sequence[datetime]  # when the 2nd, 3rd, ... weeks begin (UTC)

    def index(self, column: Any, dialect: str) -> ColumnElement[Any]:
        """The week a time falls in (0: the first). PostgreSQL counts whole weeks of local wall-clock time since
        the first Monday (one cheap expression: a local week is 7 × 24 wall-clock hours, whatever daylight saving
        does); elsewhere (SQLite, no time zones) a balanced CASE on the instants the weeks begin."""
        if dialect != "postgresql":
            return week_index(column, self.starts)
        monday = (self.first_monday - date(1970, 1, 1)).days * SECONDS_A_DAY
        local = func.date_part("epoch", func.timezone(self.timezone, column))
        return cast(func.floor((local - literal_column(str(monday))) / literal_column(str(SECONDS_A_WEEK))), Integer)


# -------------------------------------------------------------------------------------------------- scope
def _bound_identities(manager_id: int) -> Select[Any]:
    return select(IdentityAccount.identity_id).where(IdentityAccount.account_id.in_(_managed_accounts(manager_id)))


def _conversations_of(scope: Scope) -> list[ColumnElement[bool]]:
    if scope.manager_id is None:
        return []
    return [Conversation.identity_id.in_(_bound_identities(scope.manager_id))]


def _of_accounts(column: Any, scope: Scope) -> list[ColumnElement[bool]]:
    return [] if scope.manager_id is None else [column.in_(_managed_accounts(scope.manager_id))]


# ------------------------------------------------------------------------------------------------- counts
@dataclass(frozen=True, slots=True)
class ConversationWeek:
    week: int
    conversations: int  # started that week, with at least one customer message
    escalated: int  # of those, handed to a person


@dataclass(frozen=True, slots=True)
class HandoffWeek:
    week: int
    answered: int  # hand-offs of that week a staff member replied to
    met: int  # of those, within the target
    overdue: int  # not answered, and older than the target already
    median: float | None  # seconds to the first staff reply, median of that week's answered ones
    middle_total: float  # the delays (seconds) of the period's median rows that fall this week, summed
    middle_count: int  # and how many (the period's median: their sum over all weeks / their count)


@dataclass(frozen=True, slots=True)
class MessageWeek:
    week: int
    parsed: int  # customer messages the NLU parsed
    fallback: int  # of those, not understood


@dataclass(frozen=True, slots=True)
class DeliveryWeek:
    week: int
    stage: str
    audience: str  # key_account | residential
    due: int  # not cancelled
    delivered: int
    confirmable: int  # delivered notices that ask for a confirmation
    confirmed: int


def _number(value: Any) -> float:
    return float(value)  # a Decimal or a float, as the database gives it


class KpiRepository:
    """The KPIs' counts over [start, end), per week of `weeks`."""

    def __init__(self, session: AsyncSession, start: datetime, end: datetime, weeks: WeekGrid):
        self.session = session
        self.start = start
        self.end = end
        self.weeks = weeks
        self.dialect = session.get_bind().dialect.name

    async def prepare(self) -> None:
        """On PostgreSQL, no JIT compilation for the rest of the transaction: these queries cost enough for the
        planner to compile their expressions, which takes longer (up to a second or two, bench/kpi.py) than
        running them."""
        if self.dialect == "postgresql":
            await self.session.execute(text("SET LOCAL jit = off"))

    def _week(self, column: Any) -> ColumnElement[Any]:
        return self.weeks.index(column, self.dialect)

    def _within(self, column: Any) -> list[ColumnElement[bool]]:
        return [column >= self.start, column < self.end]

    async def conversations(self, scope: Scope) -> list[ConversationWeek]:
        """Conversations started in the period in which the customer wrote, and how many were escalated. (A
        conversation's messages are never older than it: only the customer messages of the period are looked at,
        through the index of those — ix_messages_inbound.)"""
        spoke = exists().where(
            Message.conversation_id == Conversation.id,
            Message.direction == Direction.IN,
            Message.created_at >= self.start,
        )
        escalated = exists().where(Escalation.conversation_id == Conversation.id)
        rows = (
            select(
                self._week(Conversation.created_at).label("week"),
                case((escalated, 1), else_=0).label("escalated"),
            )
            .where(*self._within(Conversation.created_at), spoke, *_conversations_of(scope))
            .subquery()
        )
        query = select(rows.c.week, func.count(), func.sum(rows.c.escalated)).group_by(rows.c.week)
        return [ConversationWeek(int(w), int(n), int(e or 0)) for w, n, e in await self.session.execute(query)]

    async def handoffs(self, scope: Scope, *, target_seconds: int, overdue_before: datetime) -> list[HandoffWeek]:
        """Escalations created in the period: answered (within the target or not), unanswered and created before
        `overdue_before` (past the target already), and the median delay to the first staff reply per week and
        over the period (window functions: the middle one or two of the answered ones, in order of delay)."""
        base = (
            select(
                self._week(Escalation.created_at).label("week"),
                seconds_between(Escalation.first_response_at, Escalation.created_at).label("delay"),
                case(
                    (and_(Escalation.first_response_at.is_(None), Escalation.created_at < overdue_before), 1), else_=0
                ).label("overdue"),
            )
            .where(*self._within(Escalation.created_at), *_of_accounts(Escalation.account_id, scope))
            .subquery()
        )
        unanswered_last = (case((base.c.delay.is_(None), 1), else_=0), base.c.delay)
        ranked = select(
            base,
            func.row_number().over(partition_by=base.c.week, order_by=unanswered_last).label("rank"),
            func.count(base.c.delay).over(partition_by=base.c.week).label("answered"),
            func.row_number().over(order_by=unanswered_last).label("rank_all"),
            func.count(base.c.delay).over().label("answered_all"),
        ).subquery()
        r = ranked.c
        middle = _middle(r.delay, r.rank, r.answered)
        middle_all = _middle(r.delay, r.rank_all, r.answered_all)
        query = select(
            r.week,
            func.count(r.delay),
            func.sum(case((r.delay <= target_seconds, 1), else_=0)),
            func.sum(r.overdue),
            func.avg(case((middle, r.delay))),
            func.sum(case((middle_all, r.delay))),
            func.count(case((middle_all, 1))),
        ).group_by(r.week)
        return [
            HandoffWeek(
                week=int(w),
                answered=int(answered),
                met=int(met or 0),
                overdue=int(overdue or 0),
                median=None if median is None else _number(median),
                middle_total=_number(total or 0),
                middle_count=int(count),
            )
            for w, answered, met, overdue, median, total, count in await self.session.execute(query)
        ]

    async def messages(self, scope: Scope, fallback_intent: str) -> list[MessageWeek]:
        """Customer messages of the period the NLU parsed (those with its confidence: not a button, not an
        attachment alone, not read by the keyword rules while the NLU was down), and those it did not understand."""
        where = [*self._within(Message.created_at), Message.direction == Direction.IN, Message.confidence.is_not(None)]
        if scope.manager_id is not None:
            where.append(Message.conversation_id.in_(select(Conversation.id).where(*_conversations_of(scope))))
        rows = (
            select(
                self._week(Message.created_at).label("week"),
                case((Message.intent == fallback_intent, 1), else_=0).label("fallback"),
            )
            .where(*where)
            .subquery()
        )
        query = select(rows.c.week, func.count(), func.sum(rows.c.fallback)).group_by(rows.c.week)
        return [MessageWeek(int(w), int(n), int(f or 0)) for w, n, f in await self.session.execute(query)]

    async def deliveries(self, scope: Scope) -> list[DeliveryWeek]:
        """Customer notices of outages due in the period (not the cancelled ones: they were never to be sent), per
        week, stage and audience: how many went out, and of the final confirmations sent how many were confirmed."""
        delivered = NoticeDelivery.status.in_(DELIVERED)
        confirming = and_(NoticeDelivery.stage == CONFIRMING, delivered)
        rows = (
            select(
                self._week(NoticeDelivery.due_at).label("week"),
                NoticeDelivery.stage.label("stage"),
                case(
                    (NoticeDelivery.segment == Segment.KEY_ACCOUNT, literal_column(f"'{Audience.KEY_ACCOUNT.value}'")),
                    else_=literal_column(f"'{Audience.RESIDENTIAL.value}'"),
                ).label("audience"),
                case((delivered, 1), else_=0).label("delivered"),
                case((confirming, 1), else_=0).label("confirmable"),
                case((and_(confirming, NoticeDelivery.status == DeliveryStatus.ACKED), 1), else_=0).label("confirmed"),
            )
            .where(
                *self._within(NoticeDelivery.due_at),
                NoticeDelivery.subject_kind == SubjectKind.OUTAGE,
                NoticeDelivery.stage.in_([s.value for s in Stage]),
                NoticeDelivery.status != DeliveryStatus.CANCELLED,
                *_of_accounts(NoticeDelivery.account_id, scope),
            )
            .subquery()
        )
        c = rows.c
        query = select(
            c.week,
            c.stage,
            c.audience,
            func.count(),
            func.sum(c.delivered),
            func.sum(c.confirmable),
            func.sum(c.confirmed),
        ).group_by(c.week, c.stage, c.audience)
        return [
            DeliveryWeek(int(w), str(stage), str(audience), int(n), int(d or 0), int(cf or 0), int(ok or 0))
            for w, stage, audience, n, d, cf, ok in await self.session.execute(query)
        ]


def _middle(delay: Any, rank: Any, answered: Any) -> ColumnElement[bool]:
    """The row is one of the middle one (odd count) or two (even count) of the answered ones."""
    return and_(delay.is_not(None), or_(rank == (answered + 1) // 2, rank == (answered + 2) // 2))
