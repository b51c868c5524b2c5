"""Who may call what, read off the app itself: every staff route under /api/v1 and /console declares exactly one
permission (api.deps.require / require_page), and each route answers anonymous callers and each role exactly as
core.staff.permissions.ROLE_PERMISSIONS says. A new route without a permission fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from api.app import create_app
from api.deps import ANY_STAFF, StaffGuard
from api.routes import outages
from core.clock import FrozenClock
from core.config import Settings
from core.models.enums import OutageKind, Role
from core.staff.permissions import Permission, access
from tests.support.staff import ROLE_USERS, api_client, bearer, console_login, make_role_users

STAFF_PREFIXES = ("/api/v1/", "/console")
PUBLIC = (
    re.compile(r"^/api/v1/chat/"),
    re.compile(r"^/api/v1/auth/token$"),
    re.compile(r"^/api/v1/public/"),
    re.compile(r"^/(healthz|readyz|metrics|chat|docs|openapi\.json|redoc)$"),
    re.compile(r"^/telegram/webhook$"),
    re.compile(r"^/console/login$"),
    re.compile(r"^/static(/|$)"),
)
MISSING_ID = "999999"  # path parameters: a record that does not exist (allowed callers get a 404, nothing changes)


@dataclass(frozen=True)
class StaffRoute:
    method: str
    path: str
    guard: StaffGuard

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", MISSING_ID, self.path)

    def allows(self, role: Role) -> bool:
        if self.guard.permission == ANY_STAFF:
            return True
        return access(role, Permission(self.guard.permission)) is not None


def guards(dependant: Dependant) -> Iterator[StaffGuard]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, StaffGuard):
            yield dependency.call
        yield from guards(dependency)


def is_public(path: str) -> bool:
    return any(pattern.search(path) for pattern in PUBLIC)


def routes(app: FastAPI) -> Iterator[tuple[str, str, list[StaffGuard]]]:
    for route in routing.iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        path = route.path or ""
        if dependant is None or not (path.startswith(STAFF_PREFIXES) or path == "/console"):
            continue
        found = list(dict.fromkeys(guards(dependant)))
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, path, found


def staff_routes(app: FastAPI) -> list[StaffRoute]:
    return [StaffRoute(m, p, found[0]) for m, p, found in routes(app) if not is_public(p) and len(found) == 1]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


def test_every_staff_route_declares_exactly_one_permission(app: FastAPI) -> None:
    undeclared = [f"{m} {p}" for m, p, found in routes(app) if not is_public(p) and not found]
    assert not undeclared, f"routes without a permission (use api.deps.require / require_page): {undeclared}"
    ambiguous = [f"{m} {p}" for m, p, found in routes(app) if len(found) > 1]
    assert not ambiguous, f"routes with more than one permission: {ambiguous}"
    pages = [r for r in staff_routes(app) if r.path.startswith("/console")]
    assert pages and all(r.guard.page for r in pages), "console pages answer as pages (require_page)"
    api = [r for r in staff_routes(app) if r.path.startswith("/api/")]
    assert api and not any(r.guard.page for r in api), "API routes answer JSON (require)"


def test_the_public_routes_are_the_public_ones(app: FastAPI) -> None:
    public = {p for _m, p, _found in routes(app) if is_public(p)}
    assert "/console/login" in public and "/api/v1/auth/token" in public
    guarded_public = [f"{m} {p}" for m, p, found in routes(app) if is_public(p) and found]
    assert not guarded_public


def test_the_matrix_is_declared_by_these_routes(app: FastAPI) -> None:
    """Spot checks that the routes we know declare the permission of DESIGN's table."""
    declared = {(r.method, r.path): r.guard.permission for r in staff_routes(app)}
    # changing an outage: readers reach the route, which then needs the permission of the outage's kind
    assert declared[("POST", "/api/v1/outages/{outage_id}/publish")] == Permission.OUTAGES_READ
    assert outages.NEEDS == {
        (OutageKind.PLANNED, outages.DRAFT): Permission.PLANNED_OUTAGES_MANAGE,
        (OutageKind.PLANNED, outages.PUBLISH): Permission.PLANNED_OUTAGES_MANAGE,
        (OutageKind.UNPLANNED, outages.DRAFT): Permission.FAULT_OUTAGES_DRAFT,
        (OutageKind.UNPLANNED, outages.PUBLISH): Permission.FAULT_OUTAGES_PUBLISH,
    }
    assert declared[("GET", "/api/v1/outages/{outage_id}")] == Permission.OUTAGES_READ
    assert declared[("GET", "/api/v1/outages/{outage_id}/deliveries")] == Permission.DELIVERIES_PERSONAL
    assert declared[("GET", "/api/v1/audit")] == Permission.AUDIT_READ
    assert declared[("POST", "/api/v1/staff")] == Permission.STAFF_MANAGE
    assert declared[("GET", "/console/audit")] == Permission.AUDIT_READ
    assert declared[("GET", "/console/outages")] == Permission.OUTAGES_READ
    assert declared[("GET", "/api/v1/auth/me")] == ANY_STAFF


async def request(http: httpx.AsyncClient, route: StaffRoute, headers: dict[str, str] | None = None) -> Any:
    body = {} if route.method in ("POST", "PUT", "PATCH") else None
    return await http.request(route.method, route.url, json=body, headers=headers or {})


async def test_every_route_answers_anonymous_callers_and_each_role_as_the_matrix_says(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    async with api_client(settings, clock) as http:
        tokens = {role: await bearer(http, name) for role, name in ROLE_USERS.items()}
        checked = staff_routes(http._transport.app)  # type: ignore[attr-defined]
        assert len(checked) >= 10
        wrong: list[str] = []
        for route in checked:
            anonymous = await request(http, route)
            if route.guard.page:
                ok = anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login?next=")
            else:
                ok = anonymous.status_code == 401 and anonymous.headers.get("www-authenticate") == "Bearer"
            if not ok:
                wrong.append(f"anonymous {route.method} {route.path} → {anonymous.status_code}")
            for role in Role:
                answer = await request(http, route, tokens[role])
                allowed = route.allows(role)
                ok = answer.status_code not in (401, 403) if allowed else answer.status_code == 403
                if not ok:
                    expected = "allowed" if route.allows(role) else "403"
                    wrong.append(f"{role} {route.method} {route.path} → {answer.status_code} (expected {expected})")
        assert not wrong, "\n".join(wrong)


async def test_console_pages_with_the_session_cookie_follow_the_matrix_too(
    sessionmaker, clock: FrozenClock, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    for role, name in ROLE_USERS.items():
        async with api_client(settings, clock) as http:
            await console_login(http, name)
            pages = [r for r in staff_routes(http._transport.app) if r.method == "GET" and r.guard.page]  # type: ignore[attr-defined]
            for route in pages:
                answer = await http.get(route.url)
                if route.allows(role):  # a page of a record that does not exist is a 404, but never a refusal
                    assert answer.status_code == (404 if "{" in route.path else 200), (
                        role,
                        route.path,
                        answer.status_code,
                    )
                else:
                    assert answer.status_code == 403, (role, route.path, answer.status_code)
                    assert answer.headers["content-type"].startswith("text/html")
