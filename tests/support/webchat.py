"""A customer in the web chat, through its HTTP API (the contract in DESIGN.md): start a session, send text or
press a button, read the replies and the buttons they offered."""

from __future__ import annotations

import httpx


class WebChat:
    def __init__(self, http: httpx.AsyncClient, session_id: str) -> None:
        self.http = http
        self.session_id = session_id
        self.payloads: list[str] = []  # the buttons of the last replies

    async def send(self, text: str | None = None, *, payload: str | None = None) -> str:
        """Send text (or press the button `payload`); the replies' text, one per line."""
        body = {"text": text} if text is not None else {"payload": payload}
        response = await self.http.post(f"/api/v1/chat/sessions/{self.session_id}/messages", json=body)
        assert response.status_code == 200, response.text
        replies = response.json()["replies"]
        self.payloads = [b["payload"] for r in replies for b in r["buttons"]]
        return "\n".join(r["text"] for r in replies)


async def start_chat(http: httpx.AsyncClient, language: str = "zh") -> WebChat:
    response = await http.post("/api/v1/chat/sessions", json={"language": language})
    assert response.status_code == 201, response.text
    return WebChat(http, response.json()["session_id"])
