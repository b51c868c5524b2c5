"""The staff outages API as tests drive it: a client signed in as a demo staff user (tests/api/conftest.py's
`staff` fixture builds it on the demo world without its outages)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.notices import SHANGHAI


class Staff:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.headers: dict[str, str] = {}

    async def sign_in(self, username: str = "admin") -> None:
        """A fresh token (tests that move the clock by days outlive the last one), for a demo staff user (the
        admin by default; agent.li, manager.wang, ... for the other roles)."""
        token = await self.http.post("/api/v1/auth/token", data={"username": username, "password": "gridtalk-demo"})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(f"/api/v1/outages{path}", json=body, headers=self.headers)

    async def patch(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.patch(f"/api/v1/outages{path}", json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/api/v1/outages{path}", params=params, headers=self.headers)

    async def create(self, start: datetime, **overrides: Any) -> dict[str, Any]:
        body = {
            "kind": "planned",
            "areas": ["XH"],
            "feeders": [],
            "accounts": [],
            "starts_at": start.astimezone(SHANGHAI).isoformat(),
            "ends_at": (start + timedelta(hours=6)).astimezone(SHANGHAI).isoformat(),
            "reason": "10kV线路检修",
            "contact": "95598",
        }
        body.update(overrides)
        response = await self.post("", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def published(self, start: datetime, **overrides: Any) -> int:
        outage_id = int((await self.create(start, **overrides))["id"])
        response = await self.post(f"/{outage_id}/publish")
        assert response.status_code == 200, response.text
        return outage_id

    async def deliveries(self, outage_id: int, **params: Any) -> dict[str, Any]:
        response = await self.get(f"/{outage_id}/deliveries", limit=1000, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())
