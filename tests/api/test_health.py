from __future__ import annotations

from datetime import timedelta

import httpx

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.operations.heartbeat import Heartbeats
from tests.fakes.nlu import FakeNlu


def client_for(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_healthz_answers_without_dependencies(settings: Settings) -> None:
    app = create_app(settings, nlu=FakeNlu(up=False))
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ok_when_database_and_nlu_answer(settings: Settings) -> None:
    app = create_app(settings, nlu=FakeNlu())
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "nlu": "ok", "worker": "not required"}


async def test_readyz_503_when_nlu_is_down(settings: Settings) -> None:
    app = create_app(settings, nlu=FakeNlu(up=False))
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "nlu": "unavailable", "worker": "not required"}


async def test_readyz_503_when_database_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"})
    app = create_app(broken, nlu=FakeNlu())
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("error")
    assert response.json()["nlu"] == "ok"


async def test_readyz_with_the_real_rasa_server(settings: Settings, rasa_url: str) -> None:
    app = create_app(settings.model_copy(update={"rasa_url": rasa_url}))
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"database": "ok", "nlu": "ok", "worker": "not required"}


async def beat(sessionmaker, clock: FrozenClock, name: str = "worker@test:1") -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        await Heartbeats(clock, timedelta(seconds=60)).beat(session, name)


async def test_readyz_with_a_required_worker_goes_stale_and_recovers_by_itself(
    settings: Settings, sessionmaker, clock: FrozenClock
) -> None:
    required = settings.model_copy(update={"require_worker": True, "worker_stale_seconds": 60})
    app = create_app(required, nlu=FakeNlu(), clock=clock)
    async with app.router.lifespan_context(app), client_for(app) as http:
        never = await http.get("/readyz")
        assert never.status_code == 503
        assert never.json() == {"database": "ok", "nlu": "ok", "worker": "stale"}

        await beat(sessionmaker, clock)
        fresh = await http.get("/readyz")
        assert fresh.status_code == 200
        assert fresh.json() == {"database": "ok", "nlu": "ok", "worker": "ok"}

        clock.advance(timedelta(seconds=59))
        assert (await http.get("/readyz")).status_code == 200
        clock.advance(timedelta(seconds=1))  # the worker died a minute ago
        stale = await http.get("/readyz")
        assert stale.status_code == 503
        assert stale.json()["worker"] == "stale"

        await beat(sessionmaker, clock, "worker@test:2")  # its restart beats under a new name
        back = await http.get("/readyz")
        assert back.status_code == 200
        assert back.json()["worker"] == "ok"


async def test_readyz_without_a_required_worker_reports_it_and_stays_ready(
    settings: Settings, sessionmaker, clock: FrozenClock
) -> None:
    app = create_app(settings.model_copy(update={"require_worker": False}), nlu=FakeNlu(), clock=clock)
    async with app.router.lifespan_context(app), client_for(app) as http:
        alone = await http.get("/readyz")
        assert alone.status_code == 200
        assert alone.json() == {"database": "ok", "nlu": "ok", "worker": "not required"}
        await beat(sessionmaker, clock)
        with_worker = await http.get("/readyz")
        assert with_worker.status_code == 200
        assert with_worker.json() == {"database": "ok", "nlu": "ok", "worker": "ok"}


async def test_readyz_with_a_required_worker_and_the_database_down(settings: Settings) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none", "require_worker": True}
    )
    app = create_app(broken, nlu=FakeNlu())
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("error") and response.json()["worker"] == "unknown"


async def test_a_chat_request_while_the_database_is_unreachable_is_a_503_to_retry_not_a_500(
    settings: Settings,
) -> None:
    broken = settings.model_copy(update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"})
    app = create_app(broken, nlu=FakeNlu())
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.post("/api/v1/chat/sessions", json={"language": "en"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["detail"][0]["type"] == "database_unavailable"
