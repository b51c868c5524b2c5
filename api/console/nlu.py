"""The console's "not understood" inbox (/console/nlu): customer messages the assistant fell back on, was unsure
of, or that ended in an escalation, each with the intent it took; one click gives a message its right intent
(htmx: the row goes, the waiting count updates; without JavaScript: a 303 back to the page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.console.render import Pager, render
from api.deps import ServicesDep, SessionDep, StaffContext, require_page
from core.errors import DomainError
from core.nlu_review import CHOICES
from core.security import MAX_ID
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Annotator = Annotated[StaffContext, Depends(require_page(Permission.NLU_ANNOTATE))]
PAGE_SIZE = 30
QUICK = ("out_of_scope",)  # one-click choices on every row, besides the intent the assistant took


@router.get("/nlu")
async def nlu_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Annotator,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The messages waiting for an intent, newest first, and how many wait."""
    waiting = await services.nlu_review.waiting(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "nlu",
        staff,
        items=waiting.items,
        total=waiting.total,
        choices=CHOICES,
        quick=QUICK,
        error=error,
        pager=Pager.of(request, waiting.total, PAGE_SIZE, page),
    )


@router.post("/nlu/messages/{message_id}/annotate")
async def annotate(
    request: Request,
    message_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    services: ServicesDep,
    staff: Annotator,
    intent: Annotated[str, Form(max_length=60)],
) -> Response:
    """Give the message its intent: htmx gets the row's replacement (nothing) and the new count out of band."""
    htmx = bool(request.headers.get("HX-Request"))
    try:
        await services.nlu_review.annotate(session, message_id, intent, staff.user, staff.client)
    except DomainError as exc:
        if htmx:  # the row stays; the page's status line says why (htmx swaps only a 2xx answer)
            return render(request, "_nlu_status", staff, headers={"HX-Reswap": "none"}, error=exc.code, intent=None)
        return RedirectResponse(f"/console/nlu?error={exc.code}", status_code=303)
    if not htmx:
        return RedirectResponse("/console/nlu", status_code=303)
    total = await services.nlu_review.count_waiting(session)
    return render(request, "_nlu_status", staff, total=total, error=None, intent=intent)
