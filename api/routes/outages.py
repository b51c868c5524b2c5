"""Staff API for planned outages and their notices (the contract in DESIGN.md). Every route declares its
permission (api.deps.require): managing planned outages, reading outages, or the deliveries (names and account
numbers; an account manager sees only those of the key accounts they manage). Each route parses input, makes
one service call and shapes the answer; changes are audited with the caller's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, StringConstraints

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import TEXT_PATTERN, Instant, Offset, RecordId, text_field
from core.models.enums import DeliveryStatus, Language, OutageKind, Segment, Stage
from core.outages import service, views
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/outages", tags=["outages"], responses=errors.STAFF)

ManagerDep = Annotated[StaffContext, Depends(require(Permission.PLANNED_OUTAGES_MANAGE))]
ReaderDep = Annotated[StaffContext, Depends(require(Permission.OUTAGES_READ))]
DeliveriesDep = Annotated[StaffContext, Depends(require(Permission.DELIVERIES_PERSONAL))]


Area = Annotated[str, StringConstraints(max_length=20, pattern=TEXT_PATTERN)]
Feeder = Annotated[str, StringConstraints(max_length=20, pattern=TEXT_PATTERN)]
AccountNumber = Annotated[str, StringConstraints(max_length=10, pattern=TEXT_PATTERN)]


class OutageIn(BaseModel):
    """Reason and contact are kept as written (only the whitespace around them trimmed) and shown escaped."""

    kind: OutageKind = OutageKind.PLANNED
    areas: list[Area] = []
    feeders: list[Feeder] = []
    accounts: list[AccountNumber] = []
    starts_at: Instant
    ends_at: Instant
    reason: str = text_field(service.MAX_REASON)
    contact: str = text_field(service.MAX_CONTACT, "")


class OutagePatch(BaseModel):
    areas: list[Area] | None = None
    feeders: list[Feeder] | None = None
    accounts: list[AccountNumber] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    reason: str | None = text_field(service.MAX_REASON, None)
    contact: str | None = text_field(service.MAX_CONTACT, None)


class Previews(BaseModel):
    items: list[views.PreviewItem]
    total: int


@router.post("", status_code=201, responses=errors.responses(400))
async def create(
    body: OutageIn, session: SessionDep, services: ServicesDep, staff: ManagerDep, publish: bool = False
) -> views.OutageView:
    """A draft planned outage: areas and/or feeders and/or accounts (account numbers), start, end, reason,
    contact. Nothing is sent until it is published (`?publish=true` creates and publishes in one call)."""
    outage = await services.outages.create(
        session,
        service.OutageInput(
            kind=body.kind,
            areas=tuple(body.areas),
            feeders=tuple(body.feeders),
            accounts=tuple(body.accounts),
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
            contact=body.contact,
        ),
        actor_id=staff.user.id,
        client=staff.client,
    )
    if publish:
        await services.outages.publish(session, outage.id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage.id)


@router.get("/{outage_id}", responses=errors.responses(404))
async def get(outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ReaderDep) -> views.OutageView:
    """An outage and its notice plan (stages, with when each starts sending and how many it reaches)."""
    return await services.outage_views.outage(session, outage_id)


@router.post("/{outage_id}/publish", responses=errors.responses(404, 409))
async def publish(
    outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> views.OutageView:
    """Publish a draft: its notices are planned (T-15d, T-7d, T-30m; an immediate initial notice when late)."""
    await services.outages.publish(session, outage_id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.patch("/{outage_id}", responses=errors.responses(400, 404, 409))
async def patch(
    outage_id: RecordId, body: OutagePatch, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> views.OutageView:
    """Reschedule or change. Published: a change notice now to everyone already told, the rest re-planned."""
    changes = service.OutageChanges(
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        contact=body.contact,
        areas=tuple(body.areas) if body.areas is not None else None,
        feeders=tuple(body.feeders) if body.feeders is not None else None,
        accounts=tuple(body.accounts) if body.accounts is not None else None,
    )
    await services.outages.update(session, outage_id, changes, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.post("/{outage_id}/cancel", responses=errors.responses(404, 409))
async def cancel(
    outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> views.OutageView:
    """Cancel: a cancellation notice to those already told, and nothing else."""
    await services.outages.cancel(session, outage_id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.post("/{outage_id}/complete", responses=errors.responses(404, 409))
async def complete(
    outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ManagerDep
) -> views.OutageView:
    """Power is restored: a restoration notice."""
    await services.outages.complete(session, outage_id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.get("/{outage_id}/deliveries", responses=errors.responses(404))
async def deliveries(
    outage_id: RecordId,
    session: SessionDep,
    services: ServicesDep,
    staff: DeliveriesDep,
    stage: Stage | None = None,
    status: DeliveryStatus | None = None,
    segment: Segment | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> views.DeliveryPage:
    """Every planned and sent delivery of the outage, key accounts first; counts per status (under the stage
    and segment filters). An account manager sees only the deliveries of the key accounts they manage."""
    return await services.outage_views.deliveries(
        session,
        outage_id,
        stage=stage,
        status=status,
        segment=segment,
        manager_id=staff.owner_id,
        limit=limit,
        offset=offset,
    )


@router.get("/{outage_id}/preview", responses=errors.responses(404))
async def preview(
    outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ReaderDep, language: Language | None = None
) -> Previews:
    """The notices rendered as recipients will read them, per stage and language (and for a key account)."""
    languages = (language,) if language else tuple(Language)
    items = await services.outage_views.preview(session, outage_id, languages=languages)
    return Previews(items=items, total=len(items))
