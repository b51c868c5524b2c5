"""GET /api/v1/kpis on the hand-made data set of tests/core/kpis/kpi_world.py: the dashboard's JSON (the
contract's field names), the period from `from` and `to`, what an account manager sees, an agent refused (403),
anonymous callers (401), a bad period (422). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from tests.core.kpis.kpi_world import load_kpi_world
from tests.support.staff import api_client, bearer

PERIOD = {"from": "2026-11-09T00:00:00+08:00", "to": "2026-11-23T09:30:00Z"}  # W46 to now


@pytest.fixture
async def http(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    await load_kpi_world(sessionmaker)
    async with api_client(settings, clock) as client:
        yield client


async def get(http: httpx.AsyncClient, username: str | None, **params: str) -> httpx.Response:
    headers = await bearer(http, username) if username else {}
    return await http.get("/api/v1/kpis", params=params, headers=headers)


async def dashboard(http: httpx.AsyncClient, username: str, **params: str) -> dict[str, Any]:
    response = await get(http, username, **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_dashboard_answers_the_contract_shape(http: httpx.AsyncClient) -> None:
    board = await dashboard(http, "super.fb", **PERIOD)
    assert set(board) == {"start", "end", "timezone", "kpis", "notices"}
    assert (board["start"], board["end"], board["timezone"]) == (
        "2026-11-08T16:00:00Z",
        "2026-11-23T09:30:00Z",
        "Asia/Shanghai",
    )
    assert [k["key"] for k in board["kpis"]] == [
        "containment",
        "escalations",
        "first_response",
        "first_response_met",
        "csat",
        "nlu_fallback",
    ]
    first_response = board["kpis"][2]
    assert first_response == {
        "key": "first_response",
        "unit": "seconds",
        "value": 210.0,
        "base": 4,
        "target": 300.0,
        "higher_is_better": False,
        "weeks": [
            {"week": "2026-W46", "starts_on": "2026-11-09", "value": 120.0, "base": 1},
            {"week": "2026-W47", "starts_on": "2026-11-16", "value": 300.0, "base": 3},
            {"week": "2026-W48", "starts_on": "2026-11-23", "value": None, "base": 0},
        ],
    }
    assert [(k["value"], k["base"]) for k in board["kpis"]] == [
        (0.2857, 7),
        (5.0, 7),
        (210.0, 4),
        (0.6, 5),
        (0.5, 4),
        (0.25, 8),
    ]
    final = board["notices"][1]
    assert {k: v for k, v in final.items() if k != "weeks"} == {
        "stage": "30m",
        "segment": "key_account",
        "due": 3,
        "delivered": 2,
        "delivery_rate": 0.6667,
        "confirmable": 2,
        "confirmed": 1,
        "confirmation_rate": 0.5,
    }
    assert [(p["week"], p["value"], p["base"]) for p in final["weeks"]] == [
        ("2026-W46", None, 0),
        ("2026-W47", 1.0, 2),
        ("2026-W48", 0.0, 1),
    ]


async def test_the_default_period_and_supervisors_and_admins_alike(http: httpx.AsyncClient) -> None:
    board = await dashboard(http, "admin.fb")
    assert board["start"] == "2026-10-04T16:00:00Z" and len(board["kpis"][0]["weeks"]) == 8
    assert board == await dashboard(http, "super.fb")


async def test_an_account_manager_sees_their_key_accounts(http: httpx.AsyncClient) -> None:
    board = await dashboard(http, "wang", **PERIOD)
    assert [(k["value"], k["base"]) for k in board["kpis"]] == [
        (0.0, 1),
        (1.0, 1),
        (90.0, 2),
        (1.0, 2),
        (0.0, 1),
        (1.0, 1),
    ]
    assert [(n["stage"], n["segment"], n["due"]) for n in board["notices"]] == [
        ("15d", "key_account", 1),
        ("30m", "key_account", 1),
    ]


async def test_an_agent_is_refused_and_anonymous_callers_must_sign_in(http: httpx.AsyncClient) -> None:
    refused = await get(http, "alice")
    assert refused.status_code == 403, refused.text
    anonymous = await get(http, None)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"


async def test_a_bad_period_is_a_422(http: httpx.AsyncClient) -> None:
    backwards = await get(http, "super.fb", **{"from": PERIOD["to"], "to": PERIOD["from"]})
    assert backwards.status_code == 422, backwards.text
    naive = await get(http, "super.fb", **{"from": "2026-11-09T00:00:00"})  # no offset
    assert naive.status_code == 422, naive.text
    too_long = await get(http, "super.fb", **{"from": "2025-11-01T00:00:00Z", "to": PERIOD["to"]})
    assert too_long.status_code == 422, too_long.text
