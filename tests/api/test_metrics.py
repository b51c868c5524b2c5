"""GET /metrics on the api: chat turns, NLU timings and the outbox, in Prometheus text format, no login."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from core.clock import FrozenClock
from tests.fakes.nlu import FakeNlu
from tests.support.notices import SHANGHAI, load_demo_world, notice_settings


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scraped.items() if n == name and wanted <= ls)


@pytest.fixture
async def http(sessionmaker, clock: FrozenClock, database_url: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    await load_demo_world(sessionmaker, clock.now())
    app = create_app(notice_settings(database_url), clock=clock, nlu=FakeNlu({"你好": "greet"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get("/metrics")  # no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_metrics_show_chat_turns_nlu_and_the_outbox(http: httpx.AsyncClient, clock: FrozenClock) -> None:
    before = await scrape(http)

    session_id = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]
    for text in ["你好", "你好", "这句话机器人听不懂"]:
        response = await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json={"text": text})
        assert response.status_code == 200, response.text

    token = await http.post("/api/v1/auth/token", data={"username": "admin", "password": "gridtalk-demo"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    start = (clock.now() + timedelta(days=3)).astimezone(SHANGHAI)
    created = await http.post(
        "/api/v1/outages",
        json={
            "kind": "planned",
            "areas": ["XH"],
            "feeders": [],
            "accounts": [],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=6)).isoformat(),
            "reason": "10kV线路检修",
            "contact": "95598",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    published = await http.post(f"/api/v1/outages/{created.json()['id']}/publish", headers=headers)
    assert published.status_code == 200, published.text

    after = await scrape(http)
    turns = "gridtalk_chat_turns_total"
    assert total(after, turns, channel="web") - total(before, turns, channel="web") == 3
    assert total(after, turns, channel="web", intent="greet") - total(before, turns, channel="web", intent="greet") == 2
    parses = "gridtalk_nlu_parse_seconds_count"
    assert total(after, parses) - total(before, parses) == 3
    fallbacks = "gridtalk_nlu_fallbacks_total"
    assert total(after, fallbacks) - total(before, fallbacks) == 1
    assert total(after, "gridtalk_outbox_deliveries", status="pending") > 0
    assert total(before, "gridtalk_outbox_deliveries") == 0
    assert ("gridtalk_outbox_lag_seconds", frozenset()) in after
    assert ("gridtalk_escalations_waiting", frozenset({("state", "pending")})) in after


async def test_metrics_are_not_in_the_openapi_schema(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
