"""Staff tokens: POST /api/v1/auth/token (OAuth2 password form) → a bearer token the staff API requires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import AuditLog, StaffUser
from tests.fakes.nlu import FakeNlu
from tests.support.staff import staff_service


@pytest.fixture
async def http(settings: Settings, sessionmaker, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        staff = staff_service(clock)
        await staff.create(session, username="li.na", password="s3cret-pass", role="agent", display_name="李娜")
        await staff.create(session, username="gone", password="s3cret-pass", role="agent")
        gone = await session.scalar(select(StaffUser).where(StaffUser.username == "gone"))
        assert gone is not None
        gone.is_active = False
    app = create_app(settings, clock=clock, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def sign_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/token", data={"username": username, "password": password})


async def test_a_staff_user_gets_a_bearer_token_and_is_known_by_it(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    response = await sign_in(http, "li.na", "s3cret-pass")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    me = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {"id": me.json()["id"], "username": "li.na", "role": "agent", "display_name": "李娜"}
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.staff_id == me.json()["id"])))
    assert "auth.token" in actions


@pytest.mark.parametrize(
    ("username", "password"), [("li.na", "wrong-pass"), ("nobody", "s3cret-pass"), ("gone", "s3cret-pass")]
)
async def test_wrong_password_unknown_or_disabled_user_get_401(
    http: httpx.AsyncClient, username: str, password: str
) -> None:
    response = await sign_in(http, username, password)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "access_token" not in response.text


async def test_staff_routes_refuse_missing_bad_expired_and_foreign_tokens(
    http: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    token = (await sign_in(http, "li.na", "s3cret-pass")).json()["access_token"]
    assert (await http.get("/api/v1/outages/1")).status_code == 401
    for bad in ("not-a-token", token[:-3] + "abc"):
        response = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-entirely-32-bytes-or-more", algorithm="HS256")
    assert (await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401

    clock.advance(timedelta(minutes=settings.staff_token_minutes - 1))
    assert (await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    clock.advance(timedelta(minutes=1))
    expired = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and "expired" in expired.text


async def test_a_disabled_user_loses_access_at_once(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    token = (await sign_in(http, "li.na", "s3cret-pass")).json()["access_token"]
    async with session_scope(sessionmaker) as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.username == "li.na"))
        assert user is not None
        user.is_active = False
    assert (await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
