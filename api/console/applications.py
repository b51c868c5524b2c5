"""The console's applications (业扩): the list (filters; overdue ones in red; a stage change on each row), a new
one, and one with its history. APPLICATIONS_MANAGE (an account manager: their own key accounts'). Plain forms
with the CSRF field; a refused change shows the page again with the error next to its form and what was typed
kept (422: the service refuses before it changes anything); a done one goes back where it came from (303). Each
page or action makes one service call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.console.render import Pager, render
from api.deps import ServicesDep, SessionDep, StaffContext, require_page
from core.applications.service import MAX_DESCRIPTION, MAX_NOTE
from core.applications.views import NewApplication
from core.errors import DomainError
from core.models.enums import ApplicationKind, ApplicationStage
from core.security import MAX_ID
from core.services import CoreServices
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Manager = Annotated[StaffContext, Depends(require_page(Permission.APPLICATIONS_MANAGE))]
ApplicationId = Annotated[int, Path(ge=1, le=MAX_ID)]
PAGE_SIZE = 50
LIST = "/console/applications"
# a refusal's field → the message shown (applications.error.<key>)
ERROR_OF_FIELD = {"account_number": "account", "stage": "stage", "note": "note", "description": "description"}


def error_key(exc: DomainError) -> str:
    if exc.field in ERROR_OF_FIELD:
        return ERROR_OF_FIELD[exc.field]
    return "conflict" if exc.code == "conflict" else "other"


@dataclass(frozen=True, slots=True)
class Filters:
    account: str = ""
    kind: ApplicationKind | None = None
    stage: ApplicationStage | None = None
    overdue: bool = False
    open: bool = False


@dataclass(frozen=True, slots=True)
class Typed:
    """What a refused form held, shown again with its error."""

    error: str
    values: dict[str, str] = field(default_factory=dict)


async def list_page(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    filters: Filters,
    page: int = 1,
    typed: Typed | None = None,
) -> Response:
    items, total = await services.applications.page(
        session,
        account_number=filters.account or None,
        kind=filters.kind,
        stage=filters.stage,
        overdue=filters.overdue,
        open_only=filters.open,
        manager_id=staff.owner_id,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    routes = {kind: services.applications.rules.route(kind) for kind in ApplicationKind}
    return render(
        request,
        "applications",
        staff,
        status_code=422 if typed else 200,
        items=items,
        filters=filters,
        kinds=list(ApplicationKind),
        stages=list(ApplicationStage),
        routes=routes,
        typed=typed,
        max_note=MAX_NOTE,
        max_description=MAX_DESCRIPTION,
        pager=Pager.of(request, total, PAGE_SIZE, page),
    )


async def detail_page(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    application_id: int,
    typed: Typed | None = None,
) -> Response:
    application = await services.applications.detail(session, application_id, manager_id=staff.owner_id)
    return render(
        request,
        "applications_detail",
        staff,
        status_code=422 if typed else 200,
        a=application,
        typed=typed,
        max_note=MAX_NOTE,
    )


@router.get("/applications")
async def applications_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Manager,
    account: Annotated[str, Query(max_length=10, pattern=r"^\d*$")] = "",
    kind: ApplicationKind | None = None,
    stage: ApplicationStage | None = None,
    overdue: bool = False,
    open_only: Annotated[bool, Query(alias="open")] = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The applications, the most urgent first: overdue ones in red; a stage change on each."""
    filters = Filters(account=account, kind=kind, stage=stage, overdue=overdue, open=open_only)
    return await list_page(request, session, services, staff, filters, page)


@router.post("/applications")
async def create_application(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Manager,
    account_number: Annotated[str, Form(max_length=10)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
) -> Response:
    typed = {"account_number": account_number, "kind": kind, "description": description}
    if kind not in {k.value for k in ApplicationKind}:
        return await list_page(request, session, services, staff, Filters(), typed=Typed("kind", typed))
    try:
        created = await services.applications.create(
            session,
            NewApplication(account_number.strip(), ApplicationKind(kind), description),
            actor=staff.user,
            manager_id=staff.owner_id,
            client=staff.client,
        )
    except DomainError as exc:
        return await list_page(request, session, services, staff, Filters(), typed=Typed(error_key(exc), typed))
    return RedirectResponse(f"{LIST}/{created.id}", status_code=303)


@router.get("/applications/{application_id}")
async def application_page(
    request: Request, application_id: ApplicationId, session: SessionDep, services: ServicesDep, staff: Manager
) -> Response:
    """One application: its facts, its kind's stages, its history, and the stage change."""
    return await detail_page(request, session, services, staff, application_id)


@router.post("/applications/{application_id}/advance")
async def advance_application(
    request: Request,
    application_id: ApplicationId,
    session: SessionDep,
    services: ServicesDep,
    staff: Manager,
    stage: Annotated[str, Form(max_length=24)] = "",
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
    back: Annotated[Literal["list", "detail"], Form()] = "detail",
) -> Response:
    """To a later stage (advance) or an earlier one with a note (reopen); refused: the application's page again,
    with the error and the note kept."""
    typed = {"stage": stage, "note": note}
    try:
        if stage not in {s.value for s in ApplicationStage}:
            raise DomainError("no such stage", field="stage")
        await services.applications.advance(
            session,
            application_id,
            ApplicationStage(stage),
            note,
            actor=staff.user,
            manager_id=staff.owner_id,
            client=staff.client,
        )
    except DomainError as exc:
        refused = Typed(error_key(exc), typed)
        return await detail_page(request, session, services, staff, application_id, typed=refused)
    return RedirectResponse(LIST if back == "list" else f"{LIST}/{application_id}", status_code=303)
