"""The console's outages: the board (/console/outages) and the fault-outage forms.

The board, top to bottom: open feeder alerts (probable faults the customers' reports flagged), the fault
outages going on (each with its estimated restoration and how often it moved, the customers it affects, the
no-power reports counted on it, the notices sent per stage and its fault tickets), fault drafts waiting to be
published, then every other outage with its notices per stage. The live part refreshes itself (htmx polls it).

The forms, each step changing nothing until it is confirmed:
- a fault outage → saved as a draft → its preview (who it reaches, the notice in zh and en) → publish (roles
  that may) or discard;
- a new estimate → the update notice previewed in zh and en → confirm;
- restore all, or some of its feeders → the restoration notice previewed → confirm.
Refused input comes back as the form with the error next to its field, and the refused step is rolled back.
Each page or action makes one service call; the previews render the notices with the notice renderer on the
outage's facts as they will be after the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.console.render import Pager, Viewer, render
from api.deps import ServicesDep, SessionDep, StaffBadge, StaffContext, require_page
from api.schemas import EARLIEST, LATEST
from core.errors import DomainError
from core.models.enums import Audience, Language, OutageKind, OutageStatus, Stage
from core.notices.render import plain_text
from core.outages import service
from core.outages.facts import OutageFacts, Scope
from core.outages.overview import AudienceSummary
from core.outages.views import OutageView
from core.security import MAX_ID
from core.services import CoreServices
from core.staff.permissions import Access, Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Reader = Annotated[StaffContext, Depends(require_page(Permission.OUTAGES_READ))]
Drafter = Annotated[StaffContext, Depends(require_page(Permission.FAULT_OUTAGES_DRAFT))]
Publisher = Annotated[StaffContext, Depends(require_page(Permission.FAULT_OUTAGES_PUBLISH))]
OutageId = Annotated[int, Path(ge=1, le=MAX_ID)]

BOARD = "/console/outages"
PAGE_SIZE = 20
LANGUAGES = (Language.ZH, Language.EN)
FORM_TEXT = 10_000  # the longest a form's text is read (the service refuses past its own, shorter, limits)
TIME_TEXT = 40
DONE = ("created", "published", "discarded", "estimate", "restored", "restored_part")
SCOPE_FIELDS = {"areas", "feeders", "accounts", "kind"}  # the service's fields shown at the scope's checkboxes


# ------------------------------------------------------------------------------------------- helpers


def names_for(staff: StaffContext) -> str | None:
    """Whose key accounts the viewer may see named: 'all', 'own' (an account manager's) or None."""
    deliveries = staff.may(Permission.DELIVERIES_PERSONAL)
    return None if deliveries is None else ("own" if deliveries is Access.OWN else "all")


def parse_local(value: str | None, tz: ZoneInfo) -> datetime | None:
    """A datetime-local field ("2026-11-23T18:30"), read in the utility's timezone (an offset given is kept);
    None when it is not a time between 2000 and 2100."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed if EARLIEST <= parsed < LATEST else None


def local_value(value: datetime | None, tz: ZoneInfo) -> str:
    """A time as a datetime-local field shows it (minutes, the utility's timezone)."""
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


async def rolled_back(session: AsyncSession, staff: StaffContext) -> Viewer:
    """After a refused step: nothing it wrote stays; the page is rendered for the user copied beforehand
    (the rollback expires the ORM objects)."""
    viewer = Viewer(StaffBadge.of(staff.user), staff.csrf_token, staff)
    await session.rollback()
    return viewer


def to_board(done: str, outage_id: int) -> Response:
    return RedirectResponse(f"{BOARD}?done={done}&outage={outage_id}#outage-{outage_id}", status_code=303)


@dataclass(frozen=True, slots=True)
class NoticePreview:
    """One notice as its recipients will read it (the plain text: what SMS gets; Telegram shows the same
    words, the headline in bold)."""

    stage: str
    language: str
    audience: str
    subject: str
    text: str
    buttons: list[str]


def notices(services: CoreServices, stage: str, facts: OutageFacts, audience: AudienceSummary) -> list[NoticePreview]:
    """The notice of `stage` in zh and en: the one subscribed customers get and, when the viewer may see a
    key account of the audience, the one that key account's contacts get."""
    found: list[NoticePreview] = []
    for group, key in ((Audience.RESIDENTIAL, None), (Audience.KEY_ACCOUNT, audience.sample)):
        if group == Audience.KEY_ACCOUNT and key is None:
            continue
        for language in LANGUAGES:
            notice = services.notice_renderer.notice(stage, language, facts, key=key, delivery_id=0)
            found.append(
                NoticePreview(
                    stage, language, group, notice.subject, plain_text(notice.html), [b.title for b in notice.buttons]
                )
            )
    return found


async def audience_of(
    session: AsyncSession, services: CoreServices, staff: StaffContext, scope: Scope
) -> AudienceSummary:
    audiences = await services.planner.audiences(session, scope)
    return await services.outage_overview.audience(session, audiences, names=names_for(staff), manager_id=staff.user.id)


async def fault_or_board(
    session: AsyncSession, services: CoreServices, outage_id: int, statuses: Sequence[str]
) -> OutageView | Response:
    """The fault outage, when it is in one of `statuses`; else the way back to the board (it was published,
    restored or discarded meanwhile, or it is not a fault)."""
    view = await services.outage_views.outage(session, outage_id)
    if view.kind != OutageKind.UNPLANNED or view.status not in statuses:
        return RedirectResponse(f"{BOARD}#outage-{outage_id}", status_code=303)
    return view


# --------------------------------------------------------------------------------------------- board


@router.get("/outages")
async def outages_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Reader,
    status: OutageStatus | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    live: bool = False,
    done: Annotated[str | None, Query(max_length=20)] = None,
    outage: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Open feeder alerts and the fault outages going on (`live=1`: only that part, what the page polls),
    then the other outages with, per notice stage, deliveries sent / failed / waiting and confirmations; key
    accounts that did not confirm the final notice in red (named only to those who may see deliveries)."""
    now_board = await services.outage_overview.live(session)
    context: dict[str, Any] = {
        "live": now_board,
        "may_draft": staff.may(Permission.FAULT_OUTAGES_DRAFT) is not None,
        "may_publish": staff.may(Permission.FAULT_OUTAGES_PUBLISH) is not None,
        "now": services.clock.now(),
    }
    if live:
        return render(request, "_outage_live", staff, **context)
    board = await services.outage_overview.board(
        session,
        status=status,
        names=names_for(staff),
        manager_id=staff.user.id,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        open_faults=False,
    )
    return render(
        request,
        "outages",
        staff,
        outages=board.items,
        pager=Pager.of(request, board.total, PAGE_SIZE, page),
        statuses=[s.value for s in OutageStatus],
        status=status.value if status else "",
        done=done if done in DONE else None,
        done_id=outage,
        **context,
    )


# ------------------------------------------------------------------------------ a new fault outage


@dataclass(frozen=True, slots=True)
class FaultForm:
    """What the new-fault form holds, as typed (shown again when something is refused)."""

    areas: tuple[str, ...] = ()
    feeders: tuple[str, ...] = ()
    starts_at: str = ""
    estimated_restoration_at: str = ""
    reason: str = ""
    contact: str = ""

    def check(self, tz: ZoneInfo) -> dict[str, str]:
        """What is missing or not a time (the service checks the rest): field → error key."""
        errors: dict[str, str] = {}
        if not (self.areas or self.feeders):
            errors["scope"] = "scope.required"
        if self.starts_at.strip() and parse_local(self.starts_at, tz) is None:
            errors["starts_at"] = "starts_at.format"
        if not self.estimated_restoration_at.strip():
            errors["estimated_restoration_at"] = "estimated_restoration_at.required"
        elif parse_local(self.estimated_restoration_at, tz) is None:
            errors["estimated_restoration_at"] = "estimated_restoration_at.format"
        if not self.reason.strip():
            errors["reason"] = "reason.required"
        return errors


def refused(exc: DomainError) -> dict[str, str]:
    """A refusal of the service, as the form's error next to the field it names."""
    if exc.field in SCOPE_FIELDS:
        return {"scope": "scope.invalid"}
    if exc.field in ("starts_at", "estimated_restoration_at", "reason", "contact"):
        return {exc.field: f"{exc.field}.invalid"}
    return {"form": "conflict" if exc.code == "conflict" else "other"}


async def new_form(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    viewer: Viewer | StaffContext,
    form: FaultForm,
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    areas, feeders = await services.outage_queries.places(session)
    return render(
        request,
        "outages_new",
        viewer,
        status_code=status_code,
        form=form,
        errors=errors,
        areas=areas,
        feeders=feeders,
        hotline=services.settings.service_hotline,
        tz=services.settings.timezone,
        max_reason=service.MAX_REASON,
        max_contact=service.MAX_CONTACT,
    )


@router.get("/outages/new")
async def new_fault_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Drafter,
    feeder: Annotated[list[str] | None, Query(max_length=50)] = None,
    area: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> Response:
    """The form: areas and feeders of the utility's own lists (`feeder=` / `area=` ticked already, e.g. from a
    feeder alert), the start (now), the estimated restoration, the reason and the contact."""
    tz = services.settings.tz
    form = FaultForm(
        areas=tuple(area or ()), feeders=tuple(feeder or ()), starts_at=local_value(services.clock.now(), tz)
    )
    return await new_form(request, session, services, staff, form, {})


@router.post("/outages/new")
async def create_fault(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Drafter,
    areas: Annotated[list[str] | None, Form()] = None,
    feeders: Annotated[list[str] | None, Form()] = None,
    starts_at: Annotated[str, Form(max_length=TIME_TEXT)] = "",
    estimated_restoration_at: Annotated[str, Form(max_length=TIME_TEXT)] = "",
    reason: Annotated[str, Form(max_length=FORM_TEXT)] = "",
    contact: Annotated[str, Form(max_length=FORM_TEXT)] = "",
) -> Response:
    """Saved as a draft (nothing is sent), then its preview; refused: the form again, the error at its field."""
    tz = services.settings.tz
    form = FaultForm(
        tuple(dict.fromkeys(a.strip() for a in areas or () if a.strip())),
        tuple(dict.fromkeys(f.strip() for f in feeders or () if f.strip())),
        starts_at,
        estimated_restoration_at,
        reason,
        contact,
    )
    errors = form.check(tz)
    if errors:
        return await new_form(request, session, services, staff, form, errors, status_code=422)
    try:
        outage = await services.outages.create(
            session,
            service.OutageInput(
                kind=OutageKind.UNPLANNED,
                starts_at=parse_local(form.starts_at, tz),
                ends_at=None,
                estimated_restoration_at=parse_local(form.estimated_restoration_at, tz),
                reason=form.reason,
                contact=form.contact,
                areas=form.areas,
                feeders=form.feeders,
                accounts=(),
            ),
            actor_id=staff.user.id,
            client=staff.client,
        )
    except DomainError as exc:
        viewer = await rolled_back(session, staff)
        return await new_form(request, session, services, viewer, form, refused(exc), status_code=422)
    return RedirectResponse(f"/console/outages/{outage.id}/preview", status_code=303)


# ----------------------------------------------------------------------------- a draft's preview


@router.get("/outages/{outage_id}/preview")
async def draft_preview(
    request: Request,
    outage_id: OutageId,
    session: SessionDep,
    services: ServicesDep,
    staff: Drafter,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """A fault draft as it would go out now: who it reaches (key-account contacts and subscribed customers;
    the key accounts named to those who may see them) and its notice in zh and en; publish or discard."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.DRAFT,))
    if isinstance(view, Response):
        return view
    audience = await audience_of(session, services, staff, await services.outage_overview.scope(session, outage_id))
    facts = await services.outage_queries.facts(session, outage_id)
    facts = replace(facts, status=OutageStatus.PUBLISHED, changed_at=services.clock.now())
    return render(
        request,
        "outages_preview",
        staff,
        outage=view,
        audience=audience,
        notices=notices(services, Stage.INITIAL, facts, audience),
        may_publish=staff.may(Permission.FAULT_OUTAGES_PUBLISH) is not None,
        may_names=names_for(staff) is not None,
        error=error,
    )


@router.post("/outages/{outage_id}/publish")
async def publish(outage_id: OutageId, session: SessionDep, services: ServicesDep, staff: Publisher) -> Response:
    """The draft goes out: its notices to everyone in its scope, key accounts first."""
    try:
        await services.outages.publish(session, outage_id, actor_id=staff.user.id, client=staff.client)
    except DomainError as exc:
        await session.rollback()
        code = exc.field if exc.field == "estimated_restoration_at" else exc.code
        return RedirectResponse(f"/console/outages/{outage_id}/preview?error={code}", status_code=303)
    return to_board("published", outage_id)


@router.post("/outages/{outage_id}/discard")
async def discard(outage_id: OutageId, session: SessionDep, services: ServicesDep, staff: Drafter) -> Response:
    """A fault draft thrown away (cancelled before anything was sent); a published one is restored, not
    discarded."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.DRAFT,))
    if isinstance(view, Response):
        return view
    try:
        await services.outages.cancel(session, outage_id, actor_id=staff.user.id, client=staff.client)
    except DomainError as exc:
        await session.rollback()
        return RedirectResponse(f"/console/outages/{outage_id}/preview?error={exc.code}", status_code=303)
    return to_board("discarded", outage_id)


# ---------------------------------------------------------------------------------- a new estimate


def estimate_errors(view: OutageView, new: datetime | None, now: datetime) -> dict[str, str]:
    if new is None:
        return {"estimated_restoration_at": "estimated_restoration_at.format"}
    if new == view.ends_at:
        return {"estimated_restoration_at": "estimated_restoration_at.same"}
    if new <= view.starts_at or new <= now:
        return {"estimated_restoration_at": "estimated_restoration_at.invalid"}
    return {}


async def estimate_view(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    view: OutageView,
    *,
    value: str,
    new: datetime | None = None,
    errors: dict[str, str] | None = None,
    viewer: Viewer | None = None,
    status_code: int = 200,
) -> Response:
    """The form, or (given the new time) the notice it will send: the update to those already told of a
    published fault, the first notice of a draft."""
    context: dict[str, Any] = {
        "outage": view,
        "value": value,
        "errors": errors or {},
        "new": new,
        "notices": [],
        "audience": None,
        "silent": False,
    }
    if new is not None and not errors:
        facts = await services.outage_queries.facts(session, view.id)
        now = services.clock.now()
        facts = replace(facts, ends_at=new, estimated_restoration_at=new, changed_at=now)
        draft = view.status == OutageStatus.DRAFT
        audience = await audience_of(session, services, staff, await services.outage_overview.scope(session, view.id))
        moved = abs(new - view.ends_at).total_seconds() / 60
        context.update(
            audience=audience,
            notices=notices(services, Stage.INITIAL if draft else Stage.CHANGE, facts, audience),
            silent=not draft and moved <= services.settings.notice_estimate_change_minutes,
            threshold=services.settings.notice_estimate_change_minutes,
        )
    return render(request, "outages_estimate", viewer or staff, status_code=status_code, **context)


@router.get("/outages/{outage_id}/estimate")
async def estimate_page(
    request: Request,
    outage_id: OutageId,
    session: SessionDep,
    services: ServicesDep,
    staff: Drafter,
    estimated_restoration_at: Annotated[str | None, Query(max_length=TIME_TEXT)] = None,
) -> Response:
    """The new estimate's form; with `estimated_restoration_at`, its preview (nothing changes yet)."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.DRAFT, OutageStatus.PUBLISHED))
    if isinstance(view, Response):
        return view
    tz = services.settings.tz
    if estimated_restoration_at is None:
        return await estimate_view(request, session, services, staff, view, value=local_value(view.ends_at, tz))
    new = parse_local(estimated_restoration_at, tz)
    errors = estimate_errors(view, new, services.clock.now())
    return await estimate_view(
        request,
        session,
        services,
        staff,
        view,
        value=estimated_restoration_at,
        new=new,
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.post("/outages/{outage_id}/estimate")
async def move_estimate(
    request: Request,
    outage_id: OutageId,
    session: SessionDep,
    services: ServicesDep,
    staff: Drafter,
    estimated_restoration_at: Annotated[str, Form(max_length=TIME_TEXT)] = "",
) -> Response:
    """Confirmed: the estimate moves (and, for a published fault moved by more than a few minutes, the
    update goes to those already told)."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.DRAFT, OutageStatus.PUBLISHED))
    if isinstance(view, Response):
        return view
    new = parse_local(estimated_restoration_at, services.settings.tz)
    errors = estimate_errors(view, new, services.clock.now())
    if not errors and new is not None:
        try:
            await services.outages.update(
                session,
                outage_id,
                service.OutageChanges(estimated_restoration_at=new),
                actor_id=staff.user.id,
                client=staff.client,
            )
        except DomainError as exc:
            errors = refused(exc)
        else:
            if view.status == OutageStatus.DRAFT:
                return RedirectResponse(f"/console/outages/{outage_id}/preview", status_code=303)
            return to_board("estimate", outage_id)
    viewer = await rolled_back(session, staff)
    return await estimate_view(
        request,
        session,
        services,
        staff,
        view,
        value=estimated_restoration_at,
        errors=errors,
        viewer=viewer,
        status_code=422,
    )


# ------------------------------------------------------------------------------------------ restore


def restore_errors(view: OutageView, which: str, feeders: tuple[str, ...]) -> dict[str, str]:
    if which == "some" and not feeders:
        return {"feeders": "feeders.required"}
    if which == "some" and not set(feeders) <= set(view.feeders):
        return {"feeders": "feeders.invalid"}
    return {}


def restored_facts(facts: OutageFacts, view: OutageView, feeders: tuple[str, ...] | None, now: datetime) -> OutageFacts:
    """The outage's facts as the restoration notice will read them: completed now; or, when only some
    feeders are back, going on for the rest of its scope."""
    if feeders is None:
        return replace(facts, status=OutageStatus.COMPLETED, completed_at=now, ends_at=now, changed_at=now)
    left = tuple(f for f in facts.feeders if f.code not in feeders)
    areas = {f.area_code for f in left} | set(view.areas)
    return replace(facts, feeders=left, areas=tuple(a for a in facts.areas if a.code in areas), changed_at=now)


def partial(view: OutageView, which: str, feeders: tuple[str, ...]) -> tuple[str, ...] | None:
    """The feeders restored, or None for the whole outage (every feeder of one scoped by feeders only)."""
    if which != "some" or (set(feeders) == set(view.feeders) and not view.areas and not view.accounts):
        return None
    return feeders


async def restore_view(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    view: OutageView,
    *,
    which: str,
    feeders: tuple[str, ...],
    preview: bool,
    errors: dict[str, str] | None = None,
    viewer: Viewer | None = None,
    status_code: int = 200,
) -> Response:
    """The form (all, or which feeders), or the restoration notice and who gets it."""
    context: dict[str, Any] = {
        "outage": view,
        "which": which,
        "chosen": feeders,
        "errors": errors or {},
        "preview": preview and not errors,
        "notices": [],
        "audience": None,
        # restoring feeders one by one needs at least one other part of the scope to stay off
        "by_feeder": len(view.feeders) > 1 or (bool(view.feeders) and bool(view.areas or view.accounts)),
    }
    if context["preview"]:
        restored = partial(view, which, feeders)
        scope = (
            await services.outage_overview.scope(session, view.id) if restored is None else Scope.of((), restored, ())
        )
        audience = await audience_of(session, services, staff, scope)
        facts = restored_facts(
            await services.outage_queries.facts(session, view.id), view, restored, services.clock.now()
        )
        context.update(audience=audience, notices=notices(services, Stage.RESTORED, facts, audience), part=restored)
    return render(request, "outages_restore", viewer or staff, status_code=status_code, **context)


@router.get("/outages/{outage_id}/restore")
async def restore_page(
    request: Request,
    outage_id: OutageId,
    session: SessionDep,
    services: ServicesDep,
    staff: Publisher,
    which: Annotated[str | None, Query(pattern="^(all|some)$")] = None,
    feeders: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> Response:
    """Which part is back (all, or some feeders); with `which`, the restoration notice previewed."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.PUBLISHED,))
    if isinstance(view, Response):
        return view
    chosen = tuple(dict.fromkeys(feeders or ()))
    errors = restore_errors(view, which, chosen) if which else {}
    return await restore_view(
        request,
        session,
        services,
        staff,
        view,
        which=which or "all",
        feeders=chosen,
        preview=which is not None,
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.post("/outages/{outage_id}/restore")
async def restore(
    request: Request,
    outage_id: OutageId,
    session: SessionDep,
    services: ServicesDep,
    staff: Publisher,
    which: Annotated[str, Form(pattern="^(all|some)$")] = "all",
    feeders: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Confirmed: power is back (on all, or on the feeders chosen); the restoration notice goes out."""
    view = await fault_or_board(session, services, outage_id, (OutageStatus.PUBLISHED,))
    if isinstance(view, Response):
        return view
    chosen = tuple(dict.fromkeys(feeders or ()))
    errors = restore_errors(view, which, chosen)
    if not errors:
        restored = partial(view, which, chosen)
        try:
            await services.outages.complete(
                session, outage_id, feeders=restored, actor_id=staff.user.id, client=staff.client
            )
        except DomainError as exc:
            errors = {"feeders": "feeders.invalid"} if exc.field == "feeders" else refused(exc)
        else:
            return to_board("restored" if restored is None else "restored_part", outage_id)
    viewer = await rolled_back(session, staff)
    return await restore_view(
        request,
        session,
        services,
        staff,
        view,
        which=which,
        feeders=chosen,
        preview=False,
        errors=errors,
        viewer=viewer,
        status_code=422,
    )
