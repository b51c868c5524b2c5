"""Staff API for outages, planned and faults, and their notices (the contract in DESIGN.md). Every route
declares its permission (api.deps.require): reading outages, or the deliveries (names and account numbers; an
account manager sees only those of the key accounts they manage); a route that changes an outage also needs
the permission of its kind (`_may_change`): managing planned outages, or, for a fault, drafting it and
moving its estimate / publishing and restoring it. Each route parses input, makes
one service call and shapes the answer; changes are audited with the caller's address."""

from __future__ import annotations

from datetime import datetime
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

ReaderDep = Annotated[StaffContext, Depends(require(Permission.OUTAGES_READ))]
DeliveriesDep = Annotated[StaffContext, Depends(require(Permission.DELIVERIES_PERSONAL))]


Area = Annotated[str, StringConstraints(max_length=20, pattern=TEXT_PATTERN)]
Feeder = Annotated[str, StringConstraints(max_length=20, pattern=TEXT_PATTERN)]
AccountNumber = Annotated[str, StringConstraints(max_length=10, pattern=TEXT_PATTERN)]


class OutageIn(BaseModel):
    """Reason and contact are kept as written (only the whitespace around them trimmed) and shown escaped.
    A planned outage has `starts_at` and `ends_at`; a fault (`"kind": "unplanned"`) has
    `estimated_restoration_at` instead of an end, and its `starts_at` defaults to now."""

    kind: OutageKind = OutageKind.PLANNED
    areas: list[Area] = []
    feeders: list[Feeder] = []
    accounts: list[AccountNumber] = []
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    estimated_restoration_at: Instant | None = None
    reason: str = text_field(service.MAX_REASON)
    contact: str = text_field(service.MAX_CONTACT, "")


class OutagePatch(BaseModel):
    areas: list[Area] | None = None
    feeders: list[Feeder] | None = None
    accounts: list[AccountNumber] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    estimated_restoration_at: Instant | None = None
    reason: str | None = text_field(service.MAX_REASON, None)
    contact: str | None = text_field(service.MAX_CONTACT, None)


class Restored(BaseModel):
    feeders: list[Feeder] | None = None  # only these are back (absent: all of it)


class TicketLinks(BaseModel):
    ticket_ids: list[RecordId]


class Linked(BaseModel):
    ticket_ids: list[int]


class EstimateView(BaseModel):
    estimated_restoration_at: datetime
    changed_by: str | None
    changed_at: datetime


class Estimates(BaseModel):
    items: list[EstimateView]
    total: int


# Who may do what to an outage of each kind (the permission matrix of DESIGN.md).
DRAFT, PUBLISH = "draft", "publish"
NEEDS: dict[tuple[OutageKind, str], Permission] = {
    (OutageKind.PLANNED, DRAFT): Permission.PLANNED_OUTAGES_MANAGE,
    (OutageKind.PLANNED, PUBLISH): Permission.PLANNED_OUTAGES_MANAGE,
    (OutageKind.UNPLANNED, DRAFT): Permission.FAULT_OUTAGES_DRAFT,  # create, move the estimate, link tickets
    (OutageKind.UNPLANNED, PUBLISH): Permission.FAULT_OUTAGES_PUBLISH,  # publish, restore, cancel
}


async def _may_change(session: SessionDep, staff: StaffContext, outage_id: int, action: str) -> None:
    """Refused (403) when the caller's role may not do `action` to this outage's kind; 404 when none."""
    outage = await service.get_outage(session, outage_id)
    staff.need(NEEDS[(OutageKind(outage.kind), action)])


class Previews(BaseModel):
    items: list[views.PreviewItem]
    total: int


@router.post("", status_code=201, responses=errors.responses(400))
async def create(
    body: OutageIn, session: SessionDep, services: ServicesDep, staff: ReaderDep, publish: bool = False
) -> views.OutageView:
    """A draft outage: areas and/or feeders and/or accounts (account numbers), start, end (a fault: the
    estimated restoration), reason, contact. Nothing is sent until it is published (`?publish=true` creates
    and publishes in one call)."""
    staff.need(NEEDS[(body.kind, DRAFT)])
    if publish:
        staff.need(NEEDS[(body.kind, PUBLISH)])
    outage = await services.outages.create(
        session,
        service.OutageInput(
            kind=body.kind,
            areas=tuple(body.areas),
            feeders=tuple(body.feeders),
            accounts=tuple(body.accounts),
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            estimated_restoration_at=body.estimated_restoration_at,
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
    outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ReaderDep
) -> views.OutageView:
    """Publish a draft: its notices are planned (T-15d, T-7d, T-30m; an immediate initial notice when late;
    a fault's "we know" at once)."""
    await _may_change(session, staff, outage_id, PUBLISH)
    await services.outages.publish(session, outage_id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.patch("/{outage_id}", responses=errors.responses(400, 404, 409))
async def patch(
    outage_id: RecordId, body: OutagePatch, session: SessionDep, services: ServicesDep, staff: ReaderDep
) -> views.OutageView:
    """Reschedule or change. Published: a change notice now to everyone already told, the rest re-planned.
    A fault: move its estimate (`estimated_restoration_at`; every estimate is kept), an update to those told
    when it moves by more than notice_estimate_change_minutes."""
    await _may_change(session, staff, outage_id, DRAFT)
    changes = service.OutageChanges(
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        contact=body.contact,
        areas=tuple(body.areas) if body.areas is not None else None,
        feeders=tuple(body.feeders) if body.feeders is not None else None,
        accounts=tuple(body.accounts) if body.accounts is not None else None,
        estimated_restoration_at=body.estimated_restoration_at,
    )
    await services.outages.update(session, outage_id, changes, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.post("/{outage_id}/cancel", responses=errors.responses(404, 409))
async def cancel(outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ReaderDep) -> views.OutageView:
    """Cancel: a cancellation notice to those already told, and nothing else."""
    await _may_change(session, staff, outage_id, PUBLISH)
    await services.outages.cancel(session, outage_id, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.post("/{outage_id}/complete", responses=errors.responses(400, 404, 409))
async def complete(
    outage_id: RecordId,
    session: SessionDep,
    services: ServicesDep,
    staff: ReaderDep,
    body: Restored | None = None,
) -> views.OutageView:
    """Power is restored: a restoration notice (a fault's with "still no power at my place"). With
    `{"feeders": [...]}` only those feeders are back: their people are told, the outage goes on for the rest."""
    await _may_change(session, staff, outage_id, PUBLISH)
    feeders = tuple(body.feeders) if body is not None and body.feeders is not None else None
    await services.outages.complete(session, outage_id, feeders=feeders, actor_id=staff.user.id, client=staff.client)
    return await services.outage_views.outage(session, outage_id)


@router.get("/{outage_id}/estimates", responses=errors.responses(404))
async def estimates(outage_id: RecordId, session: SessionDep, services: ServicesDep, staff: ReaderDep) -> Estimates:
    """A fault's estimates of its restoration, oldest first, with who set each and when."""
    items = [
        EstimateView(estimated_restoration_at=e.estimated_restoration_at, changed_by=name, changed_at=e.changed_at)
        for e, name in await services.outages.estimates(session, outage_id)
    ]
    return Estimates(items=items, total=len(items))


@router.post("/{outage_id}/tickets", responses=errors.responses(400, 404))
async def link_tickets(
    outage_id: RecordId, body: TicketLinks, session: SessionDep, services: ServicesDep, staff: ReaderDep
) -> Linked:
    """Fault tickets that are part of this outage (customers' reports of it)."""
    await _may_change(session, staff, outage_id, DRAFT)
    linked = await services.outages.link_tickets(
        session, outage_id, tuple(body.ticket_ids), actor_id=staff.user.id, client=staff.client
    )
    return Linked(ticket_ids=linked)


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
