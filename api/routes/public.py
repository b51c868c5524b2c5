"""What anyone may read without signing in: the outages going on now and the planned ones to come, as JSON
(`GET /api/v1/public/outages`) and as an Atom feed (`GET /api/v1/public/outages.atom`) others can subscribe
to. Only outages scoped to districts or feeders are public: one of named accounts only (a key account's own
line) is never listed. Names in Chinese, or in English with `?lang=en`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api import errors
from api.deps import ClockDep, ServicesDep, SessionDep
from core.models.enums import Language, OutageKind
from core.outages.facts import OutageFacts
from core.templating import Renderer

router = APIRouter(prefix="/api/v1/public", tags=["public"], responses=errors.responses(422))

CACHE = "public, max-age=60"  # the figures move by the minute at most; proxies may keep them that long


class PublicArea(BaseModel):
    code: str
    name: str


class PublicFeeder(BaseModel):
    code: str
    name: str
    area_code: str


class PublicOutage(BaseModel):
    id: int
    kind: OutageKind
    status: Literal["ongoing", "upcoming"]  # power off now, or a planned outage still to come
    areas: list[PublicArea]
    feeders: list[PublicFeeder]
    starts_at: datetime
    ends_at: datetime | None  # a planned outage's end
    estimated_restoration_at: datetime | None  # a fault's estimate (its end until it is restored)
    reason: str
    updated_at: datetime  # when it was last changed (published, rescheduled, its estimate moved)

    @classmethod
    def of(cls, outage: OutageFacts, status: Literal["ongoing", "upcoming"], language: str) -> PublicOutage:
        planned = outage.kind == OutageKind.PLANNED
        return cls(
            id=outage.id,
            kind=outage.kind,
            status=status,
            areas=[PublicArea(code=a.code, name=a.named(language)) for a in outage.areas],
            feeders=[PublicFeeder(code=f.code, name=f.name, area_code=f.area_code) for f in outage.feeders],
            starts_at=outage.starts_at,
            ends_at=outage.ends_at if planned else None,
            estimated_restoration_at=None if planned else outage.restoration,
            reason=outage.reason,
            updated_at=outage.changed_at or outage.starts_at,
        )


class PublicOutages(BaseModel):
    items: list[PublicOutage]
    total: int


async def public_outages(
    session: SessionDep, services: ServicesDep, clock: ClockDep, lang: Language = Language.ZH
) -> PublicOutages:
    now = clock.now()
    ongoing = await services.outage_queries.current(session, now, None)
    upcoming = await services.outage_queries.upcoming(session, now, None)
    items = [PublicOutage.of(o, "ongoing", lang) for o in ongoing]
    items += [PublicOutage.of(o, "upcoming", lang) for o in upcoming if o.id not in {i.id for i in items}]
    return PublicOutages(items=items, total=len(items))


PublicDep = Annotated[PublicOutages, Depends(public_outages)]


@router.get("/outages")
async def outages(found: PublicDep, response: Response) -> PublicOutages:
    """Outages going on now (first), then the planned ones to come, soonest first."""
    response.headers["Cache-Control"] = CACHE
    return found


@router.get("/outages.atom", response_class=Response, responses={200: {"content": {"application/atom+xml": {}}}})
async def feed(found: PublicDep, request: Request, clock: ClockDep, lang: Language = Language.ZH) -> Response:
    """The same outages as an Atom feed (one entry per outage, updated when it is)."""
    renderer: Renderer = request.app.state.renderer
    base = str(request.base_url).rstrip("/")
    body = renderer.render("public/outages_feed", lang, html=True, outages=found.items, now=clock.now(), base=base)
    return Response(body, media_type="application/atom+xml", headers={"Cache-Control": CACHE})
