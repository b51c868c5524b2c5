"""Per-user throttling of incoming updates, with one polite notice per window (core/dialogue/throttle.py)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, User

from bot.middlewares import Handler
from core.clock import Clock
from core.customers.service import language_from_code
from core.dialogue.throttle import verdict, window_index
from core.templating import Renderer

log = logging.getLogger("gridtalk.bot")


class ThrottleCounter(Protocol):
    async def hit(self, user_id: int, window: int, ttl_seconds: int) -> int:
        """Count one more message of the user in that window; the count so far."""
        ...

    async def aclose(self) -> None: ...


class MemoryThrottleCounter:
    def __init__(self) -> None:
        self._counts: dict[tuple[int, int], int] = {}
        self._window = -1

    async def hit(self, user_id: int, window: int, ttl_seconds: int) -> int:
        if window != self._window:  # a new window: the old counts can go
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        key = (user_id, window)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]

    async def aclose(self) -> None:
        self._counts.clear()


class RedisThrottleCounter:
    """INCR + EXPIRE on gridtalk:throttle:<user>:<window>: shared by every process that receives updates."""

    def __init__(self, url: str, prefix: str = "gridtalk:throttle:") -> None:
        from redis.asyncio import Redis

        self.prefix = prefix
        self._redis = Redis.from_url(url)

    async def hit(self, user_id: int, window: int, ttl_seconds: int) -> int:
        key = f"{self.prefix}{user_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds)
            count, _ = await pipe.execute()
        return int(count)

    async def aclose(self) -> None:
        await self._redis.aclose()


class ThrottlingMiddleware(BaseMiddleware):
    """Outer middleware on updates, before the database is touched."""

    def __init__(self, counter: ThrottleCounter, clock: Clock, renderer: Renderer, limit: int, window: int) -> None:
        self.counter = counter
        self.clock = clock
        self.renderer = renderer
        self.limit = limit
        self.window = window

    async def __call__(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        count = await self.counter.hit(user.id, window_index(self.clock.now(), self.window), self.window * 2)
        decision = verdict(count, self.limit)
        if decision == "allow":
            return await handler(event, data)
        log.info("throttled user %s (%s messages in the window)", user.id, count)
        if decision == "notify":
            bot: Bot = data["bot"]
            chat = data.get("event_chat")
            text = self.renderer.render("dialogue/throttled", language_from_code(user.language_code))
            await bot.send_message(chat.id if chat is not None else user.id, text)
        return None
