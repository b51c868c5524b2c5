from __future__ import annotations

import httpx
from sqlalchemy import select

from api.app import create_app
from core.config import Settings
from core.models import Conversation, Identity
from tests.fakes.nlu import FakeNlu


async def test_create_session_stores_a_web_identity_and_conversation(settings: Settings, session) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/api/v1/chat/sessions", json={"language": "en"})
        default = await http.post("/api/v1/chat/sessions")
    assert response.status_code == 201
    session_id = response.json()["session_id"]
    identity = await session.scalar(select(Identity).where(Identity.external_id == session_id))
    assert identity is not None
    assert (identity.channel, identity.language) == ("web", "en")
    assert await session.scalar(select(Conversation).where(Conversation.identity_id == identity.id)) is not None
    assert default.status_code == 201
    assert default.json()["session_id"] != session_id


async def test_unknown_language_is_422_naming_the_field(settings: Settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/api/v1/chat/sessions", json={"language": "fr"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "language"]
