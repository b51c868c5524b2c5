"""The SQL of feedback. Inside the caller's session; never commits.

FeedbackRepository stores comments; SurveyReportRepository aggregates the satisfaction surveys of a period
(GROUP BY in the database; every query is driven by an indexed column: surveys.sent_at, feedback.survey_id,
key_account_profiles.account_manager_id); FollowUpRepository pages and closes the follow-ups (回访) of low
scores (driven by followups.state / due_at / owner_id). `Scope` says whose rows a reader sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, case, false, func, literal_column, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db.repository import RepositoryBase
from core.models import (
    Feedback,
    FollowUp,
    IdentityAccount,
    KeyAccountProfile,
    StaffUser,
    Survey,
    UtilityAccount,
)
from core.models.enums import FollowUpState, Role

SATISFIED = 4  # CSAT counts the answers of 4 and 5 stars


class FeedbackRepository(RepositoryBase[Feedback]):
    model = Feedback


# ------------------------------------------------------------------------------------------- who sees what
@dataclass(frozen=True, slots=True)
class Scope:
    """Whose surveys and follow-ups a reader sees: everything (both None); the key accounts one account manager
    owns (`manager_id`: their surveys, and the follow-ups of those or owned by them); one agent's own
    (`agent_id`: the surveys of the conversations they handled, the follow-ups they own)."""

    manager_id: int | None = None
    agent_id: int | None = None

    @classmethod
    def of(cls, role: str, owner_id: int | None) -> Scope:
        """From a staff user's role and the id their access limits them to (None: everything)."""
        if owner_id is None:
            return cls()
        if role == Role.ACCOUNT_MANAGER:
            return cls(manager_id=owner_id)
        return cls(agent_id=owner_id)


EVERYTHING = Scope()


def _managed_accounts(manager_id: int) -> Select[Any]:
    return select(KeyAccountProfile.account_id).where(KeyAccountProfile.account_manager_id == manager_id)


def _surveys_of(scope: Scope) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope.manager_id is not None:
        where.append(Survey.account_id.in_(_managed_accounts(scope.manager_id)))
    if scope.agent_id is not None:
        where.append(Survey.agent_id == scope.agent_id)
    return where


def _chat_comments_of(scope: Scope) -> list[ColumnElement[bool]]:
    """A chat comment belongs to no survey: an account manager sees those of identities bound to their key
    accounts; an agent none (a comment is not tied to whoever handled the conversation)."""
    if scope.agent_id is not None:
        return [false()]
    if scope.manager_id is not None:
        bound = select(IdentityAccount.identity_id).where(
            IdentityAccount.account_id.in_(_managed_accounts(scope.manager_id))
        )
        return [Feedback.identity_id.in_(bound)]
    return []


def _followups_of(scope: Scope) -> list[ColumnElement[bool]]:
    if scope.manager_id is not None:
        return [or_(FollowUp.owner_id == scope.manager_id, Survey.account_id.in_(_managed_accounts(scope.manager_id)))]
    if scope.agent_id is not None:
        return [FollowUp.owner_id == scope.agent_id]
    return []


# ------------------------------------------------------------------------------------------------ surveys
@dataclass(frozen=True, slots=True)
class Tally:
    """The raw counts of a group of surveys (the read model derives the rates)."""

    key: Any
    sent: int
    responses: int  # answered (with a score)
    satisfied: int  # answered 4 or 5
    score_total: int


class Grouping(StrEnum):
    """What a report groups the surveys by (besides the week): a column of the survey, the agent's username."""

    CHANNEL = "channel"
    SEGMENT = "segment"
    AGENT = "agent"
    INTENT = "intent"


class SurveyReportRepository:
    """The figures of the surveys sent in [start, end), in the database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _where(self, start: datetime, end: datetime, scope: Scope) -> list[ColumnElement[bool]]:
        return [Survey.sent_at >= start, Survey.sent_at < end, *_surveys_of(scope)]

    async def tallies(
        self, start: datetime, end: datetime, scope: Scope, by: str | Sequence[datetime] | None = None
    ) -> list[Tally]:
        """One Tally per group (or one for the whole period when `by` is None). `by`: a Grouping, or the
        instants at which the 2nd, 3rd, ... week begin (the key is then the week's index, 0 the first)."""
        key: Any  # a column, or an expression labelled `key`
        inner = select(Survey.score.label("score"))
        if by is None:
            key = null()
        elif by == Grouping.CHANNEL:
            key = Survey.channel
        elif by == Grouping.SEGMENT:
            key = Survey.segment
        elif by == Grouping.INTENT:
            key = Survey.intent
        elif by == Grouping.AGENT:
            key = StaffUser.username
            inner = inner.outerjoin(StaffUser, StaffUser.id == Survey.agent_id)
        elif isinstance(by, str):
            raise ValueError(f"unknown grouping {by!r}")
        else:
            key = _week_index(by)
        # grouped outside a subquery: the key (a CASE with parameters, for weeks) is written once
        rows = inner.add_columns(key.label("key")).where(*self._where(start, end, scope)).subquery()
        satisfied = func.sum(case((rows.c.score >= SATISFIED, 1), else_=0))
        query = select(rows.c.key, func.count(), func.count(rows.c.score), satisfied, func.sum(rows.c.score)).group_by(
            rows.c.key
        )
        return [
            Tally(key=k, sent=int(sent), responses=int(answered), satisfied=int(ok or 0), score_total=int(total or 0))
            for k, sent, answered, ok, total in await self.session.execute(query)
        ]

    async def low_comments(
        self, start: datetime, end: datetime, scope: Scope, low_score: int, limit: int
    ) -> tuple[list[Any], int]:
        """The comments of answers scored `low_score` or under, newest answer first; and how many there are."""
        where = [
            *self._where(start, end, scope),
            Survey.score <= low_score,
            Feedback.comment.is_not(None),
            Feedback.comment != "",
        ]
        query = (
            select(
                Survey.id.label("survey_id"),
                Survey.conversation_id,
                Survey.answered_at,
                Survey.score,
                Feedback.comment,
                Feedback.sentiment,
                Survey.channel,
                Survey.segment,
                StaffUser.username.label("agent"),
                Survey.intent,
            )
            .join(Feedback, Feedback.survey_id == Survey.id)
            .outerjoin(StaffUser, StaffUser.id == Survey.agent_id)
            .where(*where)
        )
        total = await self.session.scalar(
            select(func.count()).select_from(Survey).join(Feedback, Feedback.survey_id == Survey.id).where(*where)
        )
        rows = await self.session.execute(
            query.order_by(Survey.answered_at.desc(), Survey.id.desc(), Feedback.id.desc()).limit(limit)
        )
        return list(rows), int(total or 0)

    async def comment_sentiments(self, start: datetime, end: datetime, scope: Scope) -> dict[str | None, int]:
        """Free-text comments by sentiment: those given with a survey answer (surveys sent in the period) and
        those written in the chat (no survey; written in the period). None: a comment never read."""
        written = [Feedback.comment.is_not(None), Feedback.comment != ""]
        with_answer = (
            select(Feedback.sentiment.label("sentiment"))
            .select_from(Survey)
            .join(Feedback, Feedback.survey_id == Survey.id)
            .where(*self._where(start, end, scope), *written)
        )
        # feedback.created_at has no index: chat comments are found through feedback.survey_id IS NULL (indexed)
        in_chat = select(Feedback.sentiment.label("sentiment")).where(
            Feedback.survey_id.is_(None),
            Feedback.created_at >= start,
            Feedback.created_at < end,
            *written,
            *_chat_comments_of(scope),
        )
        both = with_answer.union_all(in_chat).subquery()
        rows = await self.session.execute(select(both.c.sentiment, func.count()).group_by(both.c.sentiment))
        return {sentiment: int(n) for sentiment, n in rows}

    async def answers(self, start: datetime, end: datetime, scope: Scope) -> list[Row[Any]]:
        """Every answered survey of the period with its comment(s), account number and follow-up state, in the
        order they were answered (the CSV export)."""
        query = (
            select(
                Survey.id.label("survey_id"),
                Survey.sent_at,
                Survey.answered_at,
                Survey.channel,
                Survey.language,
                Survey.segment,
                StaffUser.username.label("agent"),
                Survey.intent,
                Survey.trigger,
                Survey.score,
                Survey.aspect,
                UtilityAccount.account_number,
                Feedback.comment,
                Feedback.sentiment,
                FollowUp.state.label("followup"),
            )
            .outerjoin(StaffUser, StaffUser.id == Survey.agent_id)
            .outerjoin(UtilityAccount, UtilityAccount.id == Survey.account_id)
            .outerjoin(Feedback, Feedback.survey_id == Survey.id)
            .outerjoin(FollowUp, FollowUp.survey_id == Survey.id)
            .where(*self._where(start, end, scope), Survey.score.is_not(None))
            .order_by(Survey.answered_at, Survey.id, Feedback.id)
        )
        return list(await self.session.execute(query))


def _week_index(week_starts: Sequence[datetime]) -> ColumnElement[Any]:
    """0 for a survey sent before week_starts[0], 1 before week_starts[1], ..., len(week_starts) after."""
    if not week_starts:
        return literal_column("0")
    return case(*((Survey.sent_at < at, i) for i, at in enumerate(week_starts)), else_=len(week_starts))


# ---------------------------------------------------------------------------------------------- follow-ups
Owner = aliased(StaffUser, name="owner")
Closer = aliased(StaffUser, name="closer")


def _latest_comment(column: Any) -> Any:
    return (
        select(column)
        .where(Feedback.survey_id == FollowUp.survey_id, Feedback.comment.is_not(None))
        .order_by(Feedback.id.desc())
        .limit(1)
        .scalar_subquery()
    )


class FollowUpRepository(RepositoryBase[FollowUp]):
    model = FollowUp

    def _rows(self) -> Select[Any]:
        """A follow-up with what staff read beside it: its survey's answer and latest comment, owner, closer."""
        return (
            select(
                FollowUp,
                Survey.score,
                Survey.conversation_id,
                Survey.channel,
                Survey.segment,
                Owner.username.label("owner"),
                Closer.username.label("closed_by"),
                _latest_comment(Feedback.comment).label("comment"),
                _latest_comment(Feedback.sentiment).label("sentiment"),
            )
            .join(Survey, Survey.id == FollowUp.survey_id)
            .outerjoin(Owner, Owner.id == FollowUp.owner_id)
            .outerjoin(Closer, Closer.id == FollowUp.closed_by_id)
        )

    async def page(
        self,
        scope: Scope,
        *,
        now: datetime,
        state: str | None,
        overdue: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Row[Any]], int]:
        """Follow-ups due first (then by id) and how many match. overdue: True only open ones past due, False
        none of those."""
        where = _followups_of(scope)
        if state:
            where.append(FollowUp.state == state)
        if overdue is True:
            where += [FollowUp.state == FollowUpState.OPEN, FollowUp.due_at < now]
        elif overdue is False:
            where.append(or_(FollowUp.state == FollowUpState.CLOSED, FollowUp.due_at >= now))
        total = await self.session.scalar(
            select(func.count()).select_from(FollowUp).join(Survey, Survey.id == FollowUp.survey_id).where(*where)
        )
        rows = await self.session.execute(
            self._rows().where(*where).order_by(FollowUp.due_at, FollowUp.id).limit(limit).offset(offset)
        )
        return list(rows), int(total or 0)

    async def one(self, followup_id: int, scope: Scope) -> Row[Any] | None:
        """The follow-up (with what staff read beside it) when the scope reaches it."""
        query = self._rows().where(FollowUp.id == followup_id, *_followups_of(scope))
        row: Row[Any] | None = (await self.session.execute(query.execution_options(populate_existing=True))).first()
        return row

    async def close(self, followup_id: int, *, note: str, at: datetime, by: int | None) -> bool:
        """Close it if it is still open (one of two staff closing it at once wins); whether it was."""
        result = await self.session.execute(
            update(FollowUp)
            .where(FollowUp.id == followup_id, FollowUp.state == FollowUpState.OPEN)
            .values(state=FollowUpState.CLOSED, note=note, closed_at=at, closed_by_id=by)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
