"""Staff API of applications (业扩, the contract in DESIGN.md): create one, move it to another stage (a later stage
advances it, an earlier one reopens it and needs a note), link the planned outage it needs or hand it to another
owner, the list and one with its history. APPLICATIONS_MANAGE (an account manager: only their own key accounts'
applications); every change is audited with the caller's address and told to the account's people. Each route
makes one service call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import Offset, RecordId, text_field
from core.applications import service
from core.applications.views import KEEP, ApplicationChanges, NewApplication
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage, Segment
from core.security import MAX_ID
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/applications", tags=["applications"], responses=errors.STAFF)

ManagerDep = Annotated[StaffContext, Depends(require(Permission.APPLICATIONS_MANAGE))]
AccountNumber = Annotated[str, StringConstraints(pattern=r"^\d{10}$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]


class ApplicationIn(BaseModel):
    account_number: AccountNumber
    kind: ApplicationKind
    description: str = text_field(service.MAX_DESCRIPTION, "")
    owner: Username | None = Field(None, description="the staff member responsible; default: the key account's manager")
    outage_id: int | None = Field(None, ge=1, le=MAX_ID, description="the planned outage connecting it needs")


class AdvanceIn(BaseModel):
    stage: ApplicationStage = Field(description="a later stage of its kind: advance; an earlier one: reopen")
    note: str = text_field(service.MAX_NOTE, "", description="why; required to reopen an earlier stage")


class ApplicationPatch(BaseModel):
    outage_id: int | None = Field(None, ge=1, le=MAX_ID, description="the planned outage it needs; null: none")
    owner: Username | None = Field(None, description="hand it to another staff member")


class ApplicationItem(BaseModel):
    id: int
    account_number: str
    kind: ApplicationKind
    stage: ApplicationStage
    due_at: datetime | None = Field(description="when the current stage is due (null: connected, or no limit)")
    overdue: bool
    owner: str | None = Field(description="username of the staff member responsible")


class ApplicationPage(BaseModel):
    items: list[ApplicationItem]
    total: int


class EventOut(BaseModel):
    id: int
    kind: ApplicationEventKind
    from_stage: ApplicationStage | None
    to_stage: ApplicationStage
    staff: str | None
    note: str
    due_at: datetime | None
    at: datetime


class ApplicationOut(ApplicationItem):
    customer_name: str
    segment: Segment
    step: int
    steps: int
    next_stage: ApplicationStage | None
    owner_name: str | None
    description: str
    outage_id: int | None
    stage_started_at: datetime
    created_at: datetime
    updated_at: datetime
    route: list[ApplicationStage] = Field(description="the stages its kind goes through, in order")
    events: list[EventOut] = Field(description="its history, oldest first")


@router.post("", status_code=201, responses=errors.responses(400, 404))
async def create(body: ApplicationIn, session: SessionDep, services: ServicesDep, staff: ManagerDep) -> ApplicationOut:
    """A new application, at `accepted`, due by that stage's time limit; its people are told."""
    data = NewApplication(body.account_number, body.kind, body.description, body.owner, body.outage_id)
    detail = await services.applications.create(
        session, data, actor=staff.user, manager_id=staff.owner_id, client=staff.client
    )
    return ApplicationOut.model_validate(detail, from_attributes=True)


@router.get("")
async def applications(
    session: SessionDep,
    services: ServicesDep,
    staff: ManagerDep,
    account_number: AccountNumber | None = None,
    kind: ApplicationKind | None = None,
    stage: ApplicationStage | None = None,
    overdue: Annotated[bool, Query(description="only those past the current stage's due time")] = False,
    open_only: Annotated[bool, Query(alias="open", description="only those not connected yet")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ApplicationPage:
    """The most urgent first (the earliest due; connected ones last)."""
    items, total = await services.applications.page(
        session,
        account_number=account_number,
        kind=kind,
        stage=stage,
        overdue=overdue,
        open_only=open_only,
        manager_id=staff.owner_id,
        limit=limit,
        offset=offset,
    )
    return ApplicationPage(items=[ApplicationItem.model_validate(i, from_attributes=True) for i in items], total=total)


@router.get("/{application_id}", responses=errors.responses(404))
async def application(
    application_id: RecordId, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> ApplicationOut:
    detail = await services.applications.detail(session, application_id, manager_id=staff.owner_id)
    return ApplicationOut.model_validate(detail, from_attributes=True)


@router.post("/{application_id}/advance", responses=errors.responses(400, 404, 409))
async def advance(
    application_id: RecordId, body: AdvanceIn, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> ApplicationOut:
    """To a later stage of its kind (advance), or back to an earlier one with a note (reopen); 409: it is at
    that stage already; 422: a stage its kind skips, or no note to go back."""
    detail = await services.applications.advance(
        session,
        application_id,
        body.stage,
        body.note,
        actor=staff.user,
        manager_id=staff.owner_id,
        client=staff.client,
    )
    return ApplicationOut.model_validate(detail, from_attributes=True)


@router.patch("/{application_id}", responses=errors.responses(400, 404))
async def update(
    application_id: RecordId, body: ApplicationPatch, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> ApplicationOut:
    """Link the planned outage it needs (`null`: unlink) or hand it to another owner; fields left out stay."""
    given = body.model_fields_set
    changes = ApplicationChanges(
        outage_id=body.outage_id if "outage_id" in given else KEEP,
        owner=body.owner if "owner" in given and body.owner is not None else KEEP,
    )
    detail = await services.applications.update(
        session, application_id, changes, actor=staff.user, manager_id=staff.owner_id, client=staff.client
    )
    return ApplicationOut.model_validate(detail, from_attributes=True)
