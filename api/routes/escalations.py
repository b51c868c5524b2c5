"""Staff API of the escalation queue (the contract in DESIGN.md): list, one conversation with its transcript,
claim, assign, reply, resolve. Handling needs ESCALATIONS_HANDLE (an account manager: only their own key
accounts'); assigning to someone else needs ESCALATIONS_ASSIGN. Each route makes one service call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import Offset, RecordId, text_field
from core.escalation.service import MAX_REPLY
from core.escalation.views import EscalationDetail, EscalationItem
from core.models import Escalation
from core.models.enums import EscalationState
from core.security import MAX_ID
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/escalations", tags=["escalations"], responses=errors.STAFF)

EscalationId = RecordId
HandlerDep = Annotated[StaffContext, Depends(require(Permission.ESCALATIONS_HANDLE))]
AssignerDep = Annotated[StaffContext, Depends(require(Permission.ESCALATIONS_ASSIGN))]


class EscalationPage(BaseModel):
    items: list[EscalationItem]
    total: int


class Changed(BaseModel):
    """An escalation after an action."""

    id: int
    state: EscalationState
    assignee_id: int | None
    first_response_at: datetime | None

    @classmethod
    def of(cls, escalation: Escalation) -> Changed:
        return cls(
            id=escalation.id,
            state=escalation.state,
            assignee_id=escalation.assigned_to_id,
            first_response_at=escalation.first_response_at,
        )


class AssignIn(BaseModel):
    staff_id: int = Field(ge=1, le=MAX_ID)


class ReplyIn(BaseModel):
    text: str = text_field(MAX_REPLY, min_length=1)


@router.get("")
async def queue(
    session: SessionDep,
    services: ServicesDep,
    staff: HandlerDep,
    state: EscalationState | None = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> EscalationPage:
    """The queue: high priority and longest waiting first; without `state`, the open ones (pending and
    assigned); `mine`: only those assigned to me."""
    states = (state,) if state else (EscalationState.PENDING, EscalationState.ASSIGNED)
    items, total = await services.escalation_views.queue(
        session, staff.user, staff.access, states=states, mine=mine, limit=limit, offset=offset
    )
    return EscalationPage(items=items, total=total)


@router.get("/{escalation_id}", responses=errors.responses(404))
async def detail(
    escalation_id: EscalationId,
    session: SessionDep,
    services: ServicesDep,
    staff: HandlerDep,
) -> EscalationDetail:
    """One escalation: its transcript (with the intent and confidence the bot saw) and the customer's account
    (phone masked)."""
    return await services.escalation_views.detail(session, escalation_id, staff.user, staff.access)


@router.post("/{escalation_id}/claim", responses=errors.responses(404, 409))
async def claim(escalation_id: EscalationId, session: SessionDep, services: ServicesDep, staff: HandlerDep) -> Changed:
    escalation = await services.escalations.claim(session, escalation_id, staff.user, staff.access, staff.client)
    return Changed.of(escalation)


@router.post("/{escalation_id}/assign", responses=errors.responses(400, 404, 409))
async def assign(
    escalation_id: EscalationId, body: AssignIn, session: SessionDep, services: ServicesDep, staff: AssignerDep
) -> Changed:
    escalation = await services.escalations.assign(session, escalation_id, body.staff_id, staff.user, staff.client)
    return Changed.of(escalation)


@router.post("/{escalation_id}/reply", responses=errors.responses(400, 404, 409))
async def reply(
    escalation_id: EscalationId, body: ReplyIn, session: SessionDep, services: ServicesDep, staff: HandlerDep
) -> Changed:
    """The reply reaches the customer in their channel (the web chat, or Telegram)."""
    escalation = await services.escalations.reply(
        session, escalation_id, body.text, staff.user, staff.access, staff.client
    )
    return Changed.of(escalation)


@router.post("/{escalation_id}/resolve", responses=errors.responses(404, 409))
async def resolve(
    escalation_id: EscalationId, session: SessionDep, services: ServicesDep, staff: HandlerDep
) -> Changed:
    """Done: the bot answers the customer again, and tells them so."""
    escalation = await services.escalations.resolve(session, escalation_id, staff.user, staff.access, staff.client)
    return Changed.of(escalation)
