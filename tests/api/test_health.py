from __future__ import annotations

import httpx

from api.app import create_app
from core.config import Settings
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
    assert response.json() == {"database": "ok", "nlu": "ok"}


async def test_readyz_503_when_nlu_is_down(settings: Settings) -> None:
    app = create_app(settings, nlu=FakeNlu(up=False))
    async with app.router.lifespan_context(app), client_for(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "nlu": "unavailable"}


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
    assert response.json() == {"database": "ok", "nlu": "ok"}
