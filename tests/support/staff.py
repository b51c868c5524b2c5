"""Shared by the staff, console and permission tests: staff users made through StaffService, an api client
in process, signing in for a bearer token or a console session, the audit log read back."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.models import AuditLog, StaffUser
from core.models.enums import Role
from core.staff.audit import AuditService
from core.staff.auth import StaffAuth
from core.staff.service import StaffService
from tests.fakes.nlu import FakeNlu

PASSWORD = "correct horse battery"
ROLE_USERS = {role: f"{role.value.replace('_', '.')}.test" for role in Role}  # one user per role


def staff_service(clock: Clock) -> StaffService:
    return StaffService(clock, AuditService(clock))


def staff_auth(clock: Clock, settings: Settings) -> StaffAuth:
    return StaffAuth(clock, settings, AuditService(clock))


async def make_staff(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    username: str,
    role: str = "agent",
    *,
    password: str = PASSWORD,
    **more: Any,
) -> StaffUser:
    async with session_scope(sessionmaker) as session:
        return await staff_service(clock).create(session, username=username, password=password, role=role, **more)


async def make_role_users(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> dict[Role, StaffUser]:
    return {role: await make_staff(sessionmaker, clock, name, role) for role, name in ROLE_USERS.items()}


async def audit_rows(sessionmaker: async_sessionmaker[AsyncSession], **where: Any) -> list[AuditLog]:
    async with sessionmaker() as session:
        query = select(AuditLog).filter_by(**where).order_by(AuditLog.id)
        return list(await session.scalars(query))


@asynccontextmanager
async def api_client(settings: Settings, clock: Clock, **app_args: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in process (its lifespan run), reached through httpx; cookies kept between requests.
    Its NLU is a fake unless `nlu=` gives the real client."""
    app_args.setdefault("nlu", FakeNlu())
    app = create_app(settings, clock=clock, **app_args)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def bearer(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = await http.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Console:
    """A browser-like console session: the cookie lives in the client, the CSRF token read off a page."""

    http: httpx.AsyncClient
    csrf: str


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def console_login(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> Console:
    response = await http.post("/console/login", data={"username": username, "password": password})
    assert response.status_code == 303, response.text
    home = await http.get("/console")
    assert home.status_code == 200, home.text
    found = CSRF_META.search(home.text)
    assert found, "the console page carries the CSRF token"
    return Console(http, found.group(1))
