"""Follow-ups (回访) of low scores as staff work them: the list (an agent sees the ones they own, an account
manager those of their key accounts and their own, admins and supervisors all — the supervisors' queue is
the follow-ups without an owner), with an overdue flag (open and past due); and closing one with a note,
audited. The survey flow (core.feedback.surveys) creates them; this module only reads and closes them.

Built once per process; a session per call; never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound
from core.feedback.repository import FollowUpRepository, Scope
from core.models.enums import FollowUpState
from core.security import mask_digits
from core.staff.audit import Actor, AuditAction, AuditService, actor_id

MAX_NOTE = 2000  # characters of a closing note


@dataclass(frozen=True, slots=True)
class FollowUpView:
    id: int
    survey_id: int
    conversation_id: int
    owner: str | None  # the owner's username; None: the supervisors' queue
    owner_id: int | None
    due_at: datetime
    state: str
    overdue: bool  # open and past due
    score: int | None
    comment: str | None  # the customer's latest comment on the survey, phone and account numbers masked
    sentiment: str | None
    channel: str
    segment: str | None
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class FollowUpPage:
    items: list[FollowUpView]
    total: int


class FollowUps:
    def __init__(self, clock: Clock, audit: AuditService) -> None:
        self.clock = clock
        self.audit = audit

    async def page(
        self,
        session: AsyncSession,
        scope: Scope,
        *,
        state: str | None = None,
        overdue: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> FollowUpPage:
        """Due first. state: open / closed; overdue: True only open ones past due, False the others."""
        now = self.clock.now()
        rows, total = await FollowUpRepository(session).page(
            scope, now=now, state=state, overdue=overdue, limit=limit, offset=offset
        )
        return FollowUpPage(items=[self._view(row, now) for row in rows], total=total)

    async def close(
        self,
        session: AsyncSession,
        followup_id: int,
        note: str,
        *,
        actor: Actor,
        scope: Scope,
        client: str | None = None,
    ) -> FollowUpView:
        """Close an open follow-up with what the return visit found. One the scope does not reach is not found
        (404: its existence is not told); a closed one is a conflict (409). Audited (followup.close)."""
        note = note.strip()
        if not note:
            raise InvalidInput("say what the return visit found (note)", field="note")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"a note has at most {MAX_NOTE} characters", field="note")
        repo = FollowUpRepository(session)
        found = await repo.one(followup_id, scope)
        if found is None:
            raise NotFound(f"no follow-up {followup_id}")
        now = self.clock.now()
        if found.FollowUp.state != FollowUpState.OPEN or not await repo.close(
            followup_id, note=note, at=now, by=actor_id(actor)
        ):
            raise Conflict(f"follow-up {followup_id} is already closed")
        self.audit.record(
            session,
            actor,
            AuditAction.FOLLOWUP_CLOSE,
            "followup",
            followup_id,
            detail={
                "survey_id": found.FollowUp.survey_id,
                "owner_id": found.FollowUp.owner_id,
                "overdue": found.FollowUp.due_at < now,
            },
            client=client,
        )
        closed = await repo.one(followup_id, scope)
        assert closed is not None
        return self._view(closed, now)

    @staticmethod
    def _view(row: Any, now: datetime) -> FollowUpView:
        followup = row.FollowUp
        return FollowUpView(
            id=followup.id,
            survey_id=followup.survey_id,
            conversation_id=row.conversation_id,
            owner=row.owner,
            owner_id=followup.owner_id,
            due_at=followup.due_at,
            state=str(followup.state),
            overdue=followup.state == FollowUpState.OPEN and followup.due_at < now,
            score=row.score,
            comment=mask_digits(row.comment) if row.comment else None,
            sentiment=None if row.sentiment is None else str(row.sentiment),
            channel=str(row.channel),
            segment=row.segment,
            created_at=followup.created_at,
            closed_at=followup.closed_at,
            closed_by=row.closed_by,
            note=followup.note,
        )
