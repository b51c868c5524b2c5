"""The console's shell: sign-in and sign-out, the home page, the audit log. (The outages: api.console.outages.)"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.console import feedback
from api.console.nav import visible_nav
from api.console.render import Pager, render
from api.deps import (
    ANY_STAFF,
    LOGIN_PATH,
    SESSION_COOKIE,
    ServicesDep,
    SessionDep,
    SettingsDep,
    StaffContext,
    client_address,
    require_page,
)
from core.config import Settings
from core.staff.auth import NotAuthenticated, Throttled
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", include_in_schema=False)

HOME = "/console"
AUDIT_PAGE_SIZE = 50


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host), else the home page."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(LOGIN_PATH):
        return HOME
    return value


def _same_origin(request: Request, settings: Settings) -> bool:
    """A browser's form post carries Origin: refuse one from another site (login CSRF). No Origin (curl,
    scripts): allowed."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    netloc = urlsplit(origin).netloc
    return netloc in {request.headers.get("host", ""), urlsplit(settings.base_url).netloc}


def _set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.staff_session_minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
    )


# ------------------------------------------------------------------------------------ sign in / out


@router.get("/login")
async def login_page(request: Request, session: SessionDep, services: ServicesDep, next: str | None = None) -> Response:
    """The sign-in form (fields `username` and `password`); already signed in: straight on."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            await services.staff_auth.session_for(session, token)
            return RedirectResponse(safe_next(next), status_code=303)
        except NotAuthenticated:
            pass
    return render(request, "login", None, next=safe_next(next), username="", error=None)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Sign in: on success the session cookie is set and the browser goes to `next` (or the home page). A
    failure is answered (not raised) so that its audit row is committed."""
    target = safe_next(next)
    if not _same_origin(request, settings):
        return render(request, "login", None, status_code=403, next=target, username=username, error="origin")
    try:
        console = await services.staff_auth.open_session(session, username, password, client=client_address(request))
    except NotAuthenticated:
        return render(request, "login", None, status_code=401, next=target, username=username, error="credentials")
    except Throttled as exc:
        return render(
            request,
            "login",
            None,
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
            next=target,
            username=username,
            error="throttled",
            retry_minutes=max(1, (exc.retry_after + 59) // 60),
        )
    assert console.token is not None
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, settings, console.token)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Annotated[StaffContext, Depends(require_page(ANY_STAFF))],
) -> Response:
    """Sign out (a form post with the CSRF token): the session ends on the server and the cookie is cleared."""
    await services.staff_auth.close_session(session, request.cookies.get(SESSION_COOKIE, ""), client=staff.client)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------- pages


@router.get("")
async def home(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    settings: SettingsDep,
    staff: Annotated[StaffContext, Depends(require_page(ANY_STAFF))],
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Links to the pages the role may see; for those who read KPIs, the KPI dashboard of the period the date
    fields give (api.console.feedback) above them."""
    links = [item for item in visible_nav(staff.user, settings) if item.path != HOME]
    scope = feedback.kpi_scope(staff)
    if scope is None:
        return render(request, "home", staff, links=links)
    return await feedback.dashboard(request, session, services, staff, scope, (from_, to), links)


@router.get("/audit")
async def audit_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Annotated[StaffContext, Depends(require_page(Permission.AUDIT_READ))],
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The audit log, newest first, filtered by action and actor (username), 50 rows a page."""
    action, actor = (action or "").strip() or None, (actor or "").strip() or None
    entries = await services.audit.list(
        session, actor=actor, action=action, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE
    )
    return render(
        request,
        "audit",
        staff,
        entries=entries.items,
        pager=Pager.of(request, entries.total, AUDIT_PAGE_SIZE, page),
        actions=await services.audit.actions(session),
        action=action or "",
        actor=actor or "",
    )
