"""What anyone may read without signing in: the outages going on now and the planned ones to come, as JSON
(`GET /api/v1/public/outages`), as an Atom feed (`GET /api/v1/public/outages.atom`) others can subscribe
to, and as a page (`/outages`: a schematic map of the districts coloured by status, and the lists). Only
outages scoped to districts or feeders are public: one of named accounts only (a key account's own line) is
never listed. Names in Chinese, or in English with `?lang=en`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from api import errors
from api.deps import ClockDep, ServicesDep, SessionDep, SettingsDep
from api.routes.chat import RememberedLanguage, page_language, remember_language
from core.models.enums import Language, OutageKind
from core.outages.facts import AreaFacts, OutageFacts
from core.outages.places import EN_SUFFIX
from core.templating import Renderer

router = APIRouter(prefix="/api/v1/public", tags=["public"], responses=errors.responses(422))
page_router = APIRouter(tags=["public"])

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


# ------------------------------------------------------------------------------------------- the page

MAP_COLUMNS = 3  # districts per row of the schematic map (fits a phone's width)
CELL, ROW = 200, 110  # one district's box, in SVG units
STATUS_ORDER = ("fault", "off", "planned", "ok")  # a district takes the most serious status of its outages


@dataclass(frozen=True)
class District:
    code: str
    name: str
    status: str  # fault | off (a planned outage under way) | planned (one to come) | ok
    x: int
    y: int
    outage_id: int | None  # the outage its box links to


def district_status(outage: PublicOutage) -> str:
    if outage.status == "upcoming":
        return "planned"
    return "fault" if outage.kind == OutageKind.UNPLANNED else "off"


def district_map(areas: list[AreaFacts], outages: list[PublicOutage], language: str) -> dict[str, object]:
    """Every district as a box on a grid (the utility's areas have no shapes: a schematic, no map tiles),
    coloured by the most serious outage touching it."""
    districts = []
    for index, area in enumerate(areas):
        touching = [o for o in outages if any(a.code == area.code for a in o.areas)]
        ranked = sorted(touching, key=lambda o: STATUS_ORDER.index(district_status(o)))
        status = district_status(ranked[0]) if ranked else "ok"
        row, column = divmod(index, MAP_COLUMNS)
        outage_id = ranked[0].id if ranked else None
        label = EN_SUFFIX.sub("", area.named(language))  # the box is small: "Xihu", not "Xihu District"
        districts.append(District(area.code, label, status, column * CELL + 4, row * ROW + 4, outage_id))
    rows = max(math.ceil(len(areas) / MAP_COLUMNS), 1)
    return {"districts": districts, "cell": CELL, "row": ROW, "width": MAP_COLUMNS * CELL, "height": rows * ROW}


async def board_context(
    found: PublicOutages, session: SessionDep, services: ServicesDep, clock: ClockDep, lang: Language
) -> dict[str, object]:
    areas, _ = await services.outage_queries.places(session)
    return {"lang": lang, "outages": found.items, "map": district_map(areas, found.items, lang), "now": clock.now()}


@page_router.get("/outages", response_class=HTMLResponse, include_in_schema=False)
async def outages_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    clock: ClockDep,
    settings: SettingsDep,
    lang: Language | None = None,
    remembered: RememberedLanguage = None,
) -> HTMLResponse:
    """The public outage page: no sign-in, zh or en (`?lang=`, remembered), a phone's width first."""
    chosen = page_language(lang, remembered)
    found = await public_outages(session, services, clock, chosen)
    context = await board_context(found, session, services, clock, chosen)
    renderer: Renderer = request.app.state.renderer
    page = renderer.render("public/page", chosen, html=True, hotline=settings.service_hotline, **context)
    return remember_language(HTMLResponse(page, headers={"Cache-Control": CACHE}), lang)


@page_router.get("/outages/board", response_class=HTMLResponse, include_in_schema=False)
async def outages_board(
    request: Request, session: SessionDep, services: ServicesDep, clock: ClockDep, lang: Language = Language.ZH
) -> HTMLResponse:
    """The page's board alone (map and lists), which the page fetches every minute."""
    found = await public_outages(session, services, clock, lang)
    context = await board_context(found, session, services, clock, lang)
    renderer: Renderer = request.app.state.renderer
    return HTMLResponse(renderer.render("public/board", lang, html=True, **context), headers={"Cache-Control": CACHE})
