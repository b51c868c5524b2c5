"""Staff API of fault tickets (the contract in DESIGN.md): the list and a status change with a note.
TICKETS_HANDLE (an account manager: only their own key accounts' tickets); changes are audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import Offset, RecordId, text_field
from core.faults.service import MAX_NOTE, TicketView
from core.models.enums import TicketStatus
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/tickets", tags=["fault tickets"], responses=errors.STAFF)

HandlerDep = Annotated[StaffContext, Depends(require(Permission.TICKETS_HANDLE))]
TicketId = RecordId


class TicketPage(BaseModel):
    items: list[TicketView]
    total: int


class StatusIn(BaseModel):
    status: TicketStatus
    note: str = text_field(MAX_NOTE, "")


@router.get("")
async def tickets(
    session: SessionDep,
    services: ServicesDep,
    staff: HandlerDep,
    status: TicketStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> TicketPage:
    """Urgent tickets first, then the newest."""
    items, total = await services.tickets.page(
        session, status=status, owner_id=staff.owner_id, limit=limit, offset=offset
    )
    return TicketPage(items=items, total=total)


@router.post("/{ticket_id}/status", responses=errors.responses(400, 404))
async def set_status(
    ticket_id: TicketId, body: StatusIn, session: SessionDep, services: ServicesDep, staff: HandlerDep
) -> TicketView:
    return await services.tickets.set_status(
        session, ticket_id, body.status, body.note, actor=staff.user, owner_id=staff.owner_id, client=staff.client
    )
