"""The console's escalation queue and conversation view, and the fault tickets (with the photos and
locations customers sent with them).

The queue refreshes itself (htmx polls its rows every few seconds); a conversation shows its transcript
(refreshed the same way), the customer's account with the phone masked, canned replies in both languages,
and the actions: claim, reply, assign (supervisors), resolve. Each page or action makes one service call.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.console.render import Pager, render
from api.deps import ServicesDep, SessionDep, StaffContext, require_page
from core.errors import DomainError
from core.escalation.service import MAX_REPLY
from core.faults.service import MAX_NOTE
from core.models.enums import EscalationState, TicketStatus
from core.security import MAX_ID, mask_account
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Handler = Annotated[StaffContext, Depends(require_page(Permission.ESCALATIONS_HANDLE))]
Assigner = Annotated[StaffContext, Depends(require_page(Permission.ESCALATIONS_ASSIGN))]
Tickets = Annotated[StaffContext, Depends(require_page(Permission.TICKETS_HANDLE))]
EscalationId = Annotated[int, Path(ge=1, le=MAX_ID)]
QUEUE_PAGE_SIZE = 50
TICKETS_PAGE_SIZE = 50
VIEWS = ("open", "pending", "assigned", "resolved")
# A customer's photo: personal data (kept out of caches), an image only (never sniffed as anything else).
PHOTO_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
}


def _version(rows: list[tuple[object, ...]], total: int) -> str:
    """A short fingerprint of what a polled fragment shows."""
    return hashlib.sha256(repr((rows, total)).encode()).hexdigest()[:16]


def _states(view: str) -> tuple[EscalationState, ...]:
    return (EscalationState.PENDING, EscalationState.ASSIGNED) if view == "open" else (EscalationState(view),)


# ------------------------------------------------------------------------------------------- queue


@router.get("/queue")
async def queue_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Handler,
    view: Annotated[str, Query(pattern="^(open|pending|assigned|resolved)$")] = "open",
    mine: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    rows: bool = False,
    seen: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The queue: high priority and longest waiting first, overdue ones flagged; `rows=1` answers only the
    table's rows (what the page polls), or 204 when they are still the version `seen`."""
    items, total = await services.escalation_views.queue(
        session,
        staff.user,
        staff.access,
        states=_states(view),
        mine=mine,
        limit=QUEUE_PAGE_SIZE,
        offset=(page - 1) * QUEUE_PAGE_SIZE,
    )
    version = _version([(e.id, e.state, e.priority, e.assignee_id, e.overdue) for e in items], total)
    if rows and seen == version:
        return Response(status_code=204)
    context: dict[str, Any] = {
        "version": version,
        "items": items,
        "view": view,
        "views": VIEWS,
        "mine": mine,
        "me": staff.user.id,
        "mask_account": mask_account,
        "pager": Pager.of(request, total, QUEUE_PAGE_SIZE, page),
    }
    return render(request, "_queue_rows" if rows else "queue", staff, **context)


# ------------------------------------------------------------------------------------ conversation


@router.get("/escalations/{escalation_id}")
async def conversation_page(
    request: Request,
    escalation_id: EscalationId,
    session: SessionDep,
    services: ServicesDep,
    staff: Handler,
    transcript: bool = False,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One escalated conversation; `transcript=1` answers only the transcript (what the page polls), or 204
    when nothing came after message `after`."""
    detail = await services.escalation_views.detail(session, escalation_id, staff.user, staff.access)
    if transcript:
        last = detail.transcript[-1].id if detail.transcript else 0
        if after and last <= after:
            return Response(status_code=204)
        return render(request, "_transcript", staff, detail=detail)
    assignees = await services.escalations.assignees(session) if staff.may(Permission.ESCALATIONS_ASSIGN) else []
    return render(
        request,
        "escalation",
        staff,
        detail=detail,
        assignees=assignees,
        can_assign=bool(assignees),
        max_reply=MAX_REPLY,
        error=error,
    )


def _back(escalation_id: int, error: str | None = None) -> Response:
    suffix = f"?error={error}" if error else ""
    return RedirectResponse(f"/console/escalations/{escalation_id}{suffix}", status_code=303)


@router.post("/escalations/{escalation_id}/claim")
async def claim(escalation_id: EscalationId, session: SessionDep, services: ServicesDep, staff: Handler) -> Response:
    try:
        await services.escalations.claim(session, escalation_id, staff.user, staff.access, staff.client)
    except DomainError as exc:
        return _back(escalation_id, exc.code)
    return _back(escalation_id)


@router.post("/escalations/{escalation_id}/reply")
async def reply(
    escalation_id: EscalationId,
    session: SessionDep,
    services: ServicesDep,
    staff: Handler,
    text: Annotated[str, Form(max_length=MAX_REPLY)] = "",
) -> Response:
    try:
        await services.escalations.reply(session, escalation_id, text, staff.user, staff.access, staff.client)
    except DomainError as exc:
        return _back(escalation_id, exc.code)
    return _back(escalation_id)


@router.post("/escalations/{escalation_id}/assign")
async def assign(
    escalation_id: EscalationId,
    session: SessionDep,
    services: ServicesDep,
    staff: Assigner,
    staff_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    try:
        await services.escalations.assign(session, escalation_id, staff_id, staff.user, staff.client)
    except DomainError as exc:
        return _back(escalation_id, exc.code)
    return _back(escalation_id)


@router.post("/escalations/{escalation_id}/resolve")
async def resolve(escalation_id: EscalationId, session: SessionDep, services: ServicesDep, staff: Handler) -> Response:
    try:
        await services.escalations.resolve(session, escalation_id, staff.user, staff.access, staff.client)
    except DomainError as exc:
        return _back(escalation_id, exc.code)
    return RedirectResponse("/console/queue", status_code=303)


# ----------------------------------------------------------------------------------------- tickets


@router.get("/tickets")
async def tickets_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Tickets,
    status: TicketStatus | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Fault tickets, urgent first, with a status change (and a note) on each, and the photos (thumbnails) and
    locations (coordinates) the customer sent with them."""
    items, total = await services.tickets.page(
        session,
        status=status,
        owner_id=staff.owner_id,
        limit=TICKETS_PAGE_SIZE,
        offset=(page - 1) * TICKETS_PAGE_SIZE,
    )
    attachments = await services.tickets.attachments(session, [ticket.id for ticket in items])
    return render(
        request,
        "tickets",
        staff,
        tickets=items,
        attachments=attachments,
        statuses=[s.value for s in TicketStatus],
        status=status.value if status else "",
        max_note=MAX_NOTE,
        pager=Pager.of(request, total, TICKETS_PAGE_SIZE, page),
    )


@router.post("/tickets/{ticket_id}/status")
async def ticket_status(
    ticket_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    services: ServicesDep,
    staff: Tickets,
    status: Annotated[TicketStatus, Form()],
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    await services.tickets.set_status(
        session, ticket_id, status, note, actor=staff.user, owner_id=staff.owner_id, client=staff.client
    )
    return RedirectResponse("/console/tickets", status_code=303)


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}")
async def ticket_photo(
    ticket_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    services: ServicesDep,
    staff: Tickets,
) -> Response:
    """A photo sent with a ticket (an account manager: only their own key accounts'); 404 otherwise. Its type
    was read from its bytes when it arrived; it is served as that image and nothing else."""
    photo = await services.tickets.photo(session, ticket_id, attachment_id, owner_id=staff.owner_id)
    return Response(content=photo.content, media_type=photo.content_type, headers=PHOTO_HEADERS)
