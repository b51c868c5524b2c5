"""The admin's staff API (/api/v1/staff) and the audit log API (/api/v1/audit): shapes, refusals, and the
audit rows each change leaves (with the admin and the address)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.clock import FrozenClock
from core.config import Settings
from core.models.enums import Role
from tests.support.staff import ROLE_USERS, api_client, audit_rows, bearer, make_role_users

ADMIN = ROLE_USERS[Role.ADMIN]


@pytest.fixture
async def http(sessionmaker, clock: FrozenClock, settings: Settings):  # type: ignore[no-untyped-def]
    await make_role_users(sessionmaker, clock)
    async with api_client(settings, clock) as client:
        yield client


async def test_an_admin_creates_lists_changes_and_disables_staff(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    admin = await bearer(http, ADMIN)
    body = {"username": "ops.zhang", "password": "correct-horse", "role": "agent", "display_name": "张工"}
    created = await http.post("/api/v1/staff", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert {k: user[k] for k in ("username", "role", "display_name", "is_active")} == {
        "username": "ops.zhang",
        "role": "agent",
        "display_name": "张工",
        "is_active": True,
    }
    assert "password" not in created.text and "hash" not in created.text
    assert (await http.post("/api/v1/staff", json=body, headers=admin)).status_code == 409
    bad = await http.post("/api/v1/staff", json={**body, "username": "x y", "password": "short"}, headers=admin)
    assert bad.status_code == 422
    assert (await http.post("/api/v1/staff", json={**body, "role": "root"}, headers=admin)).status_code == 422

    listed = (await http.get("/api/v1/staff", headers=admin)).json()
    assert listed["total"] == 5 and "ops.zhang" in {u["username"] for u in listed["items"]}

    changed = await http.patch(f"/api/v1/staff/{user['id']}", json={"role": "supervisor"}, headers=admin)
    assert changed.status_code == 200 and changed.json()["role"] == "supervisor"
    reset = await http.post(f"/api/v1/staff/{user['id']}/password", json={"password": "another-horse"}, headers=admin)
    assert reset.status_code == 200
    assert (
        await http.post("/api/v1/auth/token", data={"username": "ops.zhang", "password": "another-horse"})
    ).status_code == 200
    disabled = await http.post(f"/api/v1/staff/{user['id']}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert (await http.post(f"/api/v1/staff/{user['id']}/disable", headers=admin)).status_code == 409
    me = (await http.get("/api/v1/auth/me", headers=admin)).json()
    assert (await http.post(f"/api/v1/staff/{me['id']}/disable", headers=admin)).status_code == 409  # yourself

    rows = [r for r in await audit_rows(sessionmaker, target_id=str(user["id"])) if r.action.startswith("staff.")]
    assert [r.action for r in rows] == ["staff.create", "staff.role", "staff.password_reset", "staff.disable"]
    assert {(r.staff_id, r.client) for r in rows} == {(me["id"], "127.0.0.1")}


async def test_the_audit_api_lists_filters_and_pages(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    supervisor = await bearer(http, ROLE_USERS[Role.SUPERVISOR])
    await http.post("/api/v1/auth/token", data={"username": ADMIN, "password": "wrong"})
    clock.advance(timedelta(minutes=1))
    answer = await http.get("/api/v1/audit", headers=supervisor)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"items", "total"} and body["total"] == 4 + 2  # 4 created, a token, a failure
    assert set(body["items"][0]) == {
        "id",
        "at",
        "actor_id",
        "actor",
        "action",
        "target_type",
        "target_id",
        "detail",
        "client",
    }
    failed = (await http.get("/api/v1/audit", params={"action": "auth.login_failed"}, headers=supervisor)).json()
    assert failed["total"] == 1 and failed["items"][0]["target_id"] == ADMIN
    assert failed["items"][0]["actor"] is None and failed["items"][0]["client"] == "127.0.0.1"
    tokens = (await http.get("/api/v1/audit", params={"actor": ROLE_USERS[Role.SUPERVISOR]}, headers=supervisor)).json()
    assert [i["action"] for i in tokens["items"]] == ["auth.token"]
    auth = (await http.get("/api/v1/audit", params={"action": "auth."}, headers=supervisor)).json()
    assert auth["total"] == 2
    targets = (await http.get("/api/v1/audit", params={"target": "staff_user"}, headers=supervisor)).json()
    assert targets["total"] == 5
    later = clock.now().isoformat()
    assert (await http.get("/api/v1/audit", params={"since": later}, headers=supervisor)).json()["total"] == 0
    naive = await http.get("/api/v1/audit", params={"since": "2026-11-23T09:00:00"}, headers=supervisor)
    assert naive.status_code == 422
    page = (await http.get("/api/v1/audit", params={"limit": 2, "offset": 1}, headers=supervisor)).json()
    assert page["total"] == 6 and len(page["items"]) == 2


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_nothing_changes_or_deletes_audit_rows(http: httpx.AsyncClient, method: str) -> None:
    admin = await bearer(http, ADMIN)
    for path in ("/api/v1/audit", "/api/v1/audit/1"):
        answer = await http.request(method, path, json={}, headers=admin)
        assert answer.status_code in (404, 405), (method, path, answer.status_code)
