"""A web chat customer and staff, through the public contracts only (the web chat API, the staff API), on any
httpx client: the app in process (running(), with a fake NLU) or a real `gridtalk api` process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from tests.fakes.nlu import FakeNlu

PASSWORD = "gridtalk-demo"  # every demo staff user's


class Customer:
    """A web chat customer: what they send, and what arrives (as the /chat page polls it)."""

    def __init__(self, http: httpx.AsyncClient, session_id: str) -> None:
        self.http = http
        self.session_id = session_id
        self.seen = 0

    async def send(self, text: str | None = None, *, payload: str | None = None) -> list[dict[str, Any]]:
        """The replies (text and buttons) to a message or a button press; what arrived before is seen first."""
        await self.inbox()
        body = {"text": text} if text is not None else {"payload": payload}
        response = await self.http.post(f"/api/v1/chat/sessions/{self.session_id}/messages", json=body)
        assert response.status_code == 200, response.text
        await self.inbox()  # the turn itself, already shown from the answer
        replies: list[dict[str, Any]] = response.json()["replies"]
        return replies

    async def say(self, text: str | None = None, *, payload: str | None = None) -> str:
        return "\n".join(reply["text"] for reply in await self.send(text, payload=payload))

    async def inbox(self) -> list[dict[str, Any]]:
        """What arrived since the last look."""
        response = await self.http.get(f"/api/v1/chat/sessions/{self.session_id}/messages", params={"after": self.seen})
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        if messages:
            self.seen = messages[-1]["id"]
        return messages


class Api:
    """Customers start chats; staff (demo users) call the staff API with their bearer token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, str] = {}

    async def customer(self, language: str = "zh") -> Customer:
        response = await self.http.post("/api/v1/chat/sessions", json={"language": language})
        assert response.status_code == 201, response.text
        customer = Customer(self.http, response.json()["session_id"])
        await customer.inbox()
        return customer

    async def staff(self, username: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A staff API call as `username`; a path not under /api/ is one of /api/v1/escalations."""
        if username not in self.tokens:
            token = await self.http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            assert token.status_code == 200, token.text
            self.tokens[username] = token.json()["access_token"]
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        url = path if path.startswith("/api/") else f"/api/v1/escalations{path}"
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def queue(self, username: str = "agent.li", **params: Any) -> list[dict[str, Any]]:
        response = await self.staff(username, "GET", "", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@asynccontextmanager
async def running(settings: Settings, clock: FrozenClock, nlu: dict[str, str]) -> AsyncIterator[Api]:
    """The app in process on `clock`, understanding `nlu` (text → intent)."""
    app = create_app(settings, clock=clock, nlu=FakeNlu(nlu))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield Api(http)
