"""Staff API for planned outages and their notices (the contract in DESIGN.md). Every route needs a staff
token; each one parses input, makes one service call and shapes the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import ClockDep, SessionDep, SettingsDep, StaffDep
from core.models.notices import DELIVERY_STATUSES, STAGES
from core.notices.render import NoticeRenderer
from core.outages import service
from core.templating import Renderer

router = APIRouter(prefix="/api/v1/outages", tags=["outages"])

Stage = Literal["15d", "7d", "30m", "initial", "change", "cancel", "restored"]
Status = Literal["pending", "sending", "sent", "failed", "blocked", "acked", "cancelled"]
assert set(Stage.__args__) == set(STAGES) and set(Status.__args__) == set(DELIVERY_STATUSES)  # type: ignore[attr-defined]


class OutageIn(BaseModel):
    kind: Literal["planned"] = "planned"
    areas: list[Annotated[str, Field(max_length=20)]] = []
    feeders: list[Annotated[str, Field(max_length=20)]] = []
    accounts: list[Annotated[str, Field(max_length=10)]] = []
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(max_length=service.MAX_REASON)
    contact: str = Field("", max_length=service.MAX_CONTACT)


class OutagePatch(BaseModel):
    areas: list[Annotated[str, Field(max_length=20)]] | None = None
    feeders: list[Annotated[str, Field(max_length=20)]] | None = None
    accounts: list[Annotated[str, Field(max_length=10)]] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    reason: str | None = Field(None, max_length=service.MAX_REASON)
    contact: str | None = Field(None, max_length=service.MAX_CONTACT)


class Previews(BaseModel):
    items: list[service.PreviewItem]
    total: int


def notice_renderer(request: Request, settings: SettingsDep) -> NoticeRenderer:
    renderer: NoticeRenderer | None = getattr(request.app.state, "notice_renderer", None)
    if renderer is None:
        renderer = request.app.state.notice_renderer = NoticeRenderer(Renderer(settings.timezone))
    return renderer


async def _view(session: SessionDep, outage_id: int) -> service.OutageView:
    return await service.outage_view(session, outage_id)


@router.post("", status_code=201)
async def create(
    body: OutageIn, session: SessionDep, clock: ClockDep, settings: SettingsDep, staff: StaffDep
) -> service.OutageView:
    """A draft planned outage: areas and/or feeders and/or accounts (account numbers), start, end, reason,
    contact. Nothing is sent until it is published."""
    outage = await service.create_outage(
        session,
        clock,
        settings,
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
        actor_id=staff.id,
    )
    return await _view(session, outage.id)


@router.get("/{outage_id}")
async def get(outage_id: int, session: SessionDep, staff: StaffDep) -> service.OutageView:
    """An outage and its notice plan (stages, with when each starts sending and how many it reaches)."""
    return await _view(session, outage_id)


@router.post("/{outage_id}/publish")
async def publish(
    outage_id: int, session: SessionDep, clock: ClockDep, settings: SettingsDep, staff: StaffDep
) -> service.OutageView:
    """Publish a draft: its notices are planned (T-15d, T-7d, T-30m; an immediate initial notice when late)."""
    await service.publish_outage(session, clock, settings, outage_id, actor_id=staff.id)
    return await _view(session, outage_id)


@router.patch("/{outage_id}")
async def patch(
    outage_id: int, body: OutagePatch, session: SessionDep, clock: ClockDep, settings: SettingsDep, staff: StaffDep
) -> service.OutageView:
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
    await service.update_outage(session, clock, settings, outage_id, changes, actor_id=staff.id)
    return await _view(session, outage_id)


@router.post("/{outage_id}/cancel")
async def cancel(
    outage_id: int, session: SessionDep, clock: ClockDep, settings: SettingsDep, staff: StaffDep
) -> service.OutageView:
    """Cancel: a cancellation notice to those already told, and nothing else."""
    await service.cancel_outage(session, clock, settings, outage_id, actor_id=staff.id)
    return await _view(session, outage_id)


@router.post("/{outage_id}/complete")
async def complete(
    outage_id: int, session: SessionDep, clock: ClockDep, settings: SettingsDep, staff: StaffDep
) -> service.OutageView:
    """Power is restored: a restoration notice."""
    await service.complete_outage(session, clock, settings, outage_id, actor_id=staff.id)
    return await _view(session, outage_id)


@router.get("/{outage_id}/deliveries")
async def deliveries(
    outage_id: int,
    session: SessionDep,
    staff: StaffDep,
    stage: Stage | None = None,
    status: Status | None = None,
    segment: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> service.DeliveryPage:
    """Every planned and sent delivery of the outage, key accounts first; counts per status (under the stage
    and segment filters)."""
    return await service.list_outage_deliveries(
        session, outage_id, stage=stage, status=status, segment=segment, limit=limit, offset=offset
    )


@router.get("/{outage_id}/preview")
async def preview(
    outage_id: int,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    staff: StaffDep,
    renderer: Annotated[NoticeRenderer, Depends(notice_renderer)],
    language: Literal["zh", "en"] | None = None,
) -> Previews:
    """The notices rendered as recipients will read them, per stage and language (and for a key account)."""
    items = await service.preview_outage(
        session, clock, settings, renderer, outage_id, languages=(language,) if language else ("zh", "en")
    )
    return Previews(items=items, total=len(items))
