"""FastAPI dependencies: the app's shared objects, a database session per request, and the one dependency
that decides who may call a staff route.

Every staff route declares its permission with `require(Permission.X)` (JSON API) or `require_page(...)`
(console HTML pages): `staff: Annotated[StaffContext, Depends(require(Permission.OUTAGES_READ))]`. Both
accept a bearer token (`Authorization: Bearer ...` from POST /api/v1/auth/token) or the console's session
cookie; with the cookie, an unsafe method (POST, PUT, PATCH, DELETE) must carry the session's CSRF token in
the `X-CSRF-Token` header or a `csrf_token` form field. The role's access comes from
core.staff.permissions.ROLE_PERMISSIONS; `ANY_STAFF` lets every signed-in staff user in. The dependency object
keeps what it checks in `.permission` (tests/api/test_permissions.py reads it off every route).

  require(...)       no credentials or bad ones → 401 (WWW-Authenticate: Bearer); no CSRF token with the
                     cookie → 403; a role without the permission → 403.
  require_page(...)  no credentials → 303 to /console/login?next=<path> (an htmx request: 401 with
                     HX-Redirect); no CSRF token or a role without the permission → the 403 page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Final, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.errors import PermissionDenied
from core.models import StaffUser
from core.services import CoreServices
from core.staff.auth import ConsoleSession, NotAuthenticated, StaffAuth
from core.staff.permissions import Access, Permission, access


# The dependencies are `async def` even when they do not await: FastAPI runs a plain `def` dependency in a worker
# thread, a hand-off that cost more than the web chat's route itself.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_services(request: Request) -> CoreServices:
    """The domain services, built once in the app's lifespan."""
    services: CoreServices = request.app.state.services
    return services


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the route returns, rolled back when it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with session_scope(sessionmaker) as session:
        yield session


# scope="function": the unit of work commits before the response goes out, so a client that got its answer
# reads its own write on the next request (FastAPI's default for yield dependencies ends after the response).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[CoreServices, Depends(get_services)]


def client_address(request: Request) -> str | None:
    """Where a request came from (the peer's address; behind a proxy, uvicorn's --proxy-headers sets it)."""
    return request.client.host[:64] if request.client and request.client.host else None


# --- staff: who is calling, and may they -------------------------------------------------------------

SESSION_COOKIE: Final = "gridtalk_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH: Final = "/console/login"
ANY_STAFF: Final = "any_staff"  # every active staff user, whatever the role (signing out, "who am I")
Guarded = Permission | Literal["any_staff"]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True, slots=True)
class StaffContext:
    """The signed-in staff user of a request and what the route's permission allows them.

    access: ALL, or OWN (only what concerns the key accounts they manage / their own follow-ups: the route
    passes `owner_id` down to the service). client: the address the request came from (for the audit log).
    via: "bearer" (API token) or "cookie" (console session; then csrf_token is the session's, for forms and
    htmx — base.html.j2 puts it in hx-headers).
    """

    user: StaffUser
    access: Access
    client: str | None
    via: Literal["bearer", "cookie"]
    csrf_token: str | None = None

    @property
    def owner_id(self) -> int | None:
        """The user's id when the access is OWN (a filter for the service), else None (everything)."""
        return self.user.id if self.access is Access.OWN else None

    def may(self, permission: Permission) -> Access | None:
        """The user's access for another permission (None: not allowed), e.g. to show a link or not."""
        return access(self.user.role, permission)

    def need(self, permission: Permission) -> None:
        """For a route whose permission depends on what it acts on (a planned outage or a fault): refused
        (PermissionDenied, a 403) when the role lacks it."""
        if self.may(permission) is None:
            raise PermissionDenied(f"the {self.user.role} role may not do this ({permission})")


@dataclass(frozen=True, slots=True)
class StaffBadge:
    """Who a refused page was for, copied off the user while the unit of work is open (the 403 page is
    rendered after it ended)."""

    id: int
    username: str
    display_name: str
    role: str

    @classmethod
    def of(cls, user: StaffUser) -> StaffBadge:
        return cls(user.id, user.username, user.display_name, str(user.role))


class StaffDenied(Exception):
    """Raised by require_page: the console answers with a redirect to sign in (401) or the 403 page."""

    def __init__(
        self,
        status: int,
        reason: str,
        next_path: str,
        user: StaffBadge | None = None,
        csrf_token: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.next_path = next_path
        self.user = user  # signed in but refused: the 403 page still shows their nav
        self.csrf_token = csrf_token


class StaffGuard:
    """The dependency behind require() and require_page(): `.permission` is what it checks, `.page` whether it
    answers as an HTML page."""

    def __init__(self, permission: Guarded, *, page: bool) -> None:
        self.permission = permission
        self.page = page

    def __repr__(self) -> str:
        return f"{'require_page' if self.page else 'require'}({self.permission!s})"

    async def __call__(
        self,
        request: Request,
        session: SessionDep,
        services: ServicesDep,
        bearer: Annotated[str | None, Depends(oauth2_scheme)],
    ) -> StaffContext:
        auth = services.staff_auth
        client = client_address(request)
        console: ConsoleSession | None = None
        try:
            if bearer:
                user = await auth.staff_for_token(session, bearer)
            else:
                console = await auth.session_for(session, request.cookies.get(SESSION_COOKIE, ""))
                user = console.staff
        except NotAuthenticated as exc:
            raise self._deny(request, 401, exc.message) from None
        csrf = console.csrf_token if console is not None else None
        unsafe = console is not None and request.method in UNSAFE_METHODS
        if unsafe and console is not None and not StaffAuth.csrf_matches(console, await _csrf_token(request)):
            raise self._deny(request, 403, "missing or wrong CSRF token", user, csrf)
        allowed = Access.ALL if self.permission == ANY_STAFF else access(user.role, Permission(self.permission))
        if allowed is None:
            raise self._deny(request, 403, f"the {user.role} role may not do this ({self.permission})", user, csrf)
        return StaffContext(
            user=user,
            access=allowed,
            client=client,
            via="bearer" if console is None else "cookie",
            csrf_token=None if console is None else console.csrf_token,
        )

    def _deny(
        self,
        request: Request,
        status: int,
        reason: str,
        user: StaffUser | None = None,
        csrf_token: str | None = None,
    ) -> Exception:
        if self.page:
            return StaffDenied(status, reason, _path_of(request), StaffBadge.of(user) if user else None, csrf_token)
        if status == 401:
            return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
        return HTTPException(status, reason)


def require(permission: Guarded) -> StaffGuard:
    """A JSON API route's guard: `Annotated[StaffContext, Depends(require(Permission.X))]`."""
    return StaffGuard(permission, page=False)


def require_page(permission: Guarded) -> StaffGuard:
    """A console page's guard (HTML): sign-in redirect and 403 page instead of JSON errors."""
    return StaffGuard(permission, page=True)


def login_url(next_path: str) -> str:
    return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"


def _path_of(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def _csrf_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


# Every signed-in staff user (no particular permission): "who am I", signing out.
AnyStaffDep = Annotated[StaffContext, Depends(require(ANY_STAFF))]
