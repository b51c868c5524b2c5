"""A fake SMS gateway on 127.0.0.1: the HTTP webhook GRIDTALK_SMS_WEBHOOK_URL points at, over real HTTP.

It records every POSTed JSON body (`received`) and answers 200, or the status scripted with `fail_next`.
`on_post(hook)` awaits `hook(body)` when a message arrives, before it is answered (to look at the world at
that moment); `next_message()` waits, at most WAIT seconds, for the next message not yet taken.

    async with SmsGateway() as gateway:
        settings = settings.model_copy(update={"sms_webhook_url": gateway.url})
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Hook = Callable[[dict[str, Any]], Awaitable[None]]
WAIT = 5.0  # seconds a test waits for an SMS that should arrive


class SmsGateway:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self._failures: list[int] = []
        self._hooks: list[Hook] = []
        self._taken = 0
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def on_post(self, hook: Hook) -> None:
        self._hooks.append(hook)

    async def next_message(self) -> dict[str, Any]:
        """The next message that arrived (waiting at most WAIT seconds for it)."""
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) > self._taken)
            self._taken += 1
            return self.received[self._taken - 1]

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        for hook in self._hooks:
            await hook(body)
        status = self._failures.pop(0) if self._failures else 200
        async with self._arrived:
            self.received.append(body)
            self.statuses.append(status)
            self._arrived.notify_all()
        return web.json_response({"ok": status == 200}, status=status)

    async def __aenter__(self) -> SmsGateway:
        app = web.Application()
        app.router.add_post("/sms", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
