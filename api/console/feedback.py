"""The console's satisfaction pages and the KPI dashboard.

- /console/feedback: the satisfaction report of a period (from/to dates, by default this week and the 7 before
  it, as the API): CSAT, average and response rate; the figures by channel, segment, agent and intent; the
  weekly trend (charts); the comments of low scores and the comments counted by sentiment; the CSV export
  (a link to the API's export, for those who may export).
- /console/followups: the follow-ups (回访) of low scores, overdue ones flagged, with a form closing one with
  a note (a plain form post: 303 back to the list; refused input comes back as the list with the error at its
  form and the note as typed).
- The dashboard: the console's home for those who read KPIs (rendered by the home route, api.console.pages):
  every KPI with its value, target and weekly chart, and the notices' delivery and confirmation rates.

FEEDBACK_READ: an agent sees the surveys of the conversations they handled and their own follow-ups, an
account manager those of their key accounts. KPIS_READ (the dashboard): admins and supervisors everything, an
account manager their key accounts; an agent has none (their home keeps its links).
Each page or action makes one service call. The charts are drawn by api.console.charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import errors
from api.console import charts
from api.console.render import Pager, render
from api.deps import ServicesDep, SessionDep, StaffContext, require_page
from api.routes.feedback import scope_of
from core.errors import DomainError, InvalidInput
from core.feedback.followups import MAX_NOTE
from core.feedback.repository import Scope
from core.models.enums import Audience, FollowUpState, Stage
from core.security import MAX_ID
from core.services import CoreServices
from core.staff.permissions import Access, Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Reader = Annotated[StaffContext, Depends(require_page(Permission.FEEDBACK_READ))]
DateText = Annotated[str | None, Query(max_length=40)]

FOLLOWUPS = "/console/followups"
FOLLOWUPS_PAGE_SIZE = 30
NOTE_TEXT = 10_000  # the longest a note is read (the service refuses past its own, shorter, limit)
# The follow-ups list's views: (state, overdue) as the service filters them.
VIEWS: dict[str, tuple[FollowUpState | None, bool | None]] = {
    "open": (FollowUpState.OPEN, None),
    "overdue": (None, True),
    "closed": (FollowUpState.CLOSED, None),
    "all": (None, None),
}


# ------------------------------------------------------------------------------------------- the period


@dataclass(frozen=True, slots=True)
class PeriodForm:
    """The period's date fields as typed, and what they mean: [start, end) from the first day's midnight to
    the midnight after the last day (the utility's timezone); None: the default (as the API's)."""

    start: datetime | None
    end: datetime | None
    from_text: str
    to_text: str
    error: str | None = None  # "date": a field is not a date

    @classmethod
    def read(cls, from_text: str | None, to_text: str | None, tz: ZoneInfo) -> PeriodForm:
        first, last = (from_text or "").strip(), (to_text or "").strip()
        try:
            start = _midnight(date.fromisoformat(first), tz) if first else None
            end = _midnight(date.fromisoformat(last) + timedelta(days=1), tz) if last else None
        except ValueError:
            return cls(None, None, first, last, "date")
        return cls(start, end, first, last)

    @classmethod
    def shown(cls, start: datetime, end: datetime, tz: ZoneInfo) -> PeriodForm:
        """The fields filled with the period the page shows (its first and last day)."""
        last = (end - timedelta(microseconds=1)).astimezone(tz).date()
        return cls(start, end, start.astimezone(tz).date().isoformat(), last.isoformat())


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    if not date(2000, 1, 1) <= day < date(2100, 1, 1):
        raise ValueError(day)
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_error(exc: DomainError) -> str:
    return "period" if isinstance(exc, InvalidInput) else "other"


def export_url(start: datetime, end: datetime) -> str:
    """The API's CSV export of the same period (the console's cookie signs the request in)."""
    return "/api/v1/feedback/report.csv?" + urlencode({"from": start.isoformat(), "to": end.isoformat()})


# ----------------------------------------------------------------------------------- satisfaction report


@router.get("/feedback")
async def feedback_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Reader,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: DateText = None,
) -> Response:
    """The satisfaction report of the period the date fields give (default: this week and the 7 before it)."""
    tz = services.settings.tz
    form = PeriodForm.read(from_, to, tz)
    context: dict[str, Any] = {"charts": charts, "report": None, "form": form, "error": form.error}
    if form.error is None:
        try:
            report = await services.feedback_reports.report(session, scope_of(staff), form.start, form.end)
        except DomainError as exc:
            context["error"] = period_error(exc)
        else:
            context.update(report=report, form=PeriodForm.shown(report.start, report.end, tz))
            if staff.may(Permission.EXPORTS):
                context["export_url"] = export_url(report.start, report.end)
    status = 422 if context["error"] else 200
    return render(request, "feedback", staff, status_code=status, **context)


# ------------------------------------------------------------------------------------------- follow-ups


@router.get("/followups")
async def followups_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Reader,
    view: Annotated[str, Query(pattern="^(open|overdue|closed|all)$")] = "open",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The follow-ups of the view (open ones by default), due first; `done`: the one just closed."""
    return await _followups(request, session, services, staff, view=view, page=page, done=done)


@router.post("/followups/{followup_id}/close")
async def close_followup(
    request: Request,
    followup_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    services: ServicesDep,
    staff: Reader,
    note: Annotated[str, Form(max_length=NOTE_TEXT)] = "",
    view: Annotated[str, Form(pattern="^(open|overdue|closed|all)$")] = "open",
    page: Annotated[int, Form(ge=1, le=100_000)] = 1,
) -> Response:
    """Close a follow-up with what the return visit found: back to the list; refused: the list again with the
    error at this follow-up's form and the note kept."""
    try:
        await services.followups.close(
            session, followup_id, note, actor=staff.user, scope=scope_of(staff), client=staff.client
        )
    except DomainError as exc:
        status = errors.STATUS.get(type(exc), 400)
        refused = {"id": followup_id, "code": exc.code, "note": note}
        return await _followups(
            request, session, services, staff, view=view, page=page, refused=refused, status_code=status
        )
    return RedirectResponse(_followups_url(view, page, done=followup_id), status_code=303)


async def _followups(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    *,
    view: str,
    page: int = 1,
    done: int | None = None,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    state, overdue = VIEWS[view]
    found = await services.followups.page(
        session,
        scope_of(staff),
        state=state,
        overdue=overdue,
        limit=FOLLOWUPS_PAGE_SIZE,
        offset=(page - 1) * FOLLOWUPS_PAGE_SIZE,
    )
    return render(
        request,
        "followups",
        staff,
        status_code=status_code,
        items=found.items,
        view=view,
        views=tuple(VIEWS),
        page=page,
        done=done,
        refused=refused,
        max_note=MAX_NOTE,
        pager=_followups_pager(found.total, view, page),
    )


def _followups_url(view: str, page: int = 1, done: int | None = None) -> str:
    params: dict[str, str | int] = {"view": view}
    if page > 1:
        params["page"] = page
    if done is not None:
        params["done"] = done
    return f"{FOLLOWUPS}?{urlencode(params)}"


def _followups_pager(total: int, view: str, page: int) -> Pager:
    """The list's pages (built from the view and page, so that the list answered to a refused close, at the
    form's address, pages through the list too)."""
    offset = (page - 1) * FOLLOWUPS_PAGE_SIZE
    prev_url = _followups_url(view, page - 1) if page > 1 else None
    next_url = _followups_url(view, page + 1) if offset + FOLLOWUPS_PAGE_SIZE < total else None
    return Pager(total, FOLLOWUPS_PAGE_SIZE, offset, prev_url, next_url)


# ---------------------------------------------------------------------------------------------- dashboard


def kpi_scope(staff: StaffContext) -> Scope | None:
    """Whose figures the viewer's dashboard shows (KPIS_READ): everything (admins, supervisors), an account
    manager's own key accounts; None: no dashboard (agents)."""
    reads = staff.may(Permission.KPIS_READ)
    if reads is None:
        return None
    return Scope.of(staff.user.role, staff.user.id if reads is Access.OWN else None)


def notice_groups(notices: list[Any]) -> list[tuple[str, list[Any]]]:
    """The notice rates by stage (in the stages' order), each with its segments (key accounts first)."""
    by_stage: dict[str, list[Any]] = {}
    for rate in notices:
        by_stage.setdefault(rate.stage, []).append(rate)
    order = {stage.value: i for i, stage in enumerate(Stage)}
    return [
        (stage, sorted(rates, key=lambda r: r.segment != Audience.KEY_ACCOUNT))
        for stage, rates in sorted(by_stage.items(), key=lambda item: order.get(item[0], len(order)))
    ]


async def dashboard(
    request: Request,
    session: AsyncSession,
    services: CoreServices,
    staff: StaffContext,
    scope: Scope,
    period: tuple[str | None, str | None],
    links: list[Any],
) -> Response:
    """The KPI dashboard of the period the date fields give (the home page of those who read KPIs), and the
    links to the other pages."""
    tz = services.settings.tz
    form = PeriodForm.read(*period, tz)
    context: dict[str, Any] = {"charts": charts, "board": None, "form": form, "error": form.error}
    if form.error is None:
        try:
            board = await services.kpis.dashboard(session, scope, form.start, form.end)
        except DomainError as exc:
            context["error"] = period_error(exc)
        else:
            shown = PeriodForm.shown(board.start, board.end, tz)
            context.update(board=board, form=shown, notices=notice_groups(board.notices))
    status = 422 if context["error"] else 200
    own = scope.manager_id is not None
    return render(request, "dashboard", staff, status_code=status, links=links, own=own, **context)
