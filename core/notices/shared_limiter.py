"""The Telegram limiter shared by every worker through Redis (GRIDTALK_REDIS_URL): one global line of send
slots, one interval per chat and one 429 pause for the bot, whichever worker sends.

Each reservation is one Lua script, atomic in Redis and timed by Redis's own clock (TIME), so workers on
different machines agree. A chat whose interval has not passed is told how long to wait *without* taking a
global slot (the same rule as TelegramLimiter: a waiting chat never holds up the others).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from redis.asyncio import Redis

# KEYS: line, pause, chat. ARGV: interval, chat interval, key lifetime (ms).
# Returns {wait, slot}: wait > 0 with slot = -1 means "the chat is not ready: wait and ask again";
# otherwise a global slot is reserved at `slot` (Redis time, seconds) and `wait` is how far away it is.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local chat_interval = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local chat_next = tonumber(redis.call('GET', KEYS[3]) or '0')
local ready = math.max(now, pause, chat_next)
if chat_next > now then
  return {string.format('%.6f', chat_next - now), '-1'}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(ready, tat)
redis.call('SET', KEYS[1], string.format('%.6f', at + interval), 'PX', ttl)
redis.call('SET', KEYS[3], string.format('%.6f', at + chat_interval), 'PX', ttl + math.ceil(chat_interval * 1000))
return {string.format('%.6f', at - now), string.format('%.6f', at)}
"""

# KEYS: pause. ARGV: retry_after (s). Pauses never shrink. Returns the pause's end (Redis time).
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 60000)
  return string.format('%.6f', until_)
end
return string.format('%.6f', current)
"""


class SharedTelegramLimiter:
    """TelegramLimiter's contract (acquire, pause, paused_for), with its state in Redis."""

    def __init__(
        self,
        redis: Redis,
        rate: float,
        chat_interval: float,
        *,
        namespace: str = "default",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.interval = 1.0 / rate
        self.chat_interval = chat_interval
        self.prefix = f"gridtalk:telegram:{namespace}:"
        self._sleep = sleep
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._paused_for = 0.0
        self.slots: list[float] = []  # the global slots this limiter took (Redis time), newest last

    @classmethod
    def from_url(cls, url: str, rate: float, chat_interval: float, *, namespace: str) -> SharedTelegramLimiter:
        return cls(Redis.from_url(url), rate, chat_interval, namespace=namespace)

    def paused_for(self) -> float:
        """How long the last pause this worker set or met had still to run when it was seen."""
        return self._paused_for

    async def pause(self, retry_after: float) -> None:
        await self._pause(keys=[self.prefix + "pause"], args=[max(retry_after, 0.0)])
        self._paused_for = max(retry_after, 0.0)

    async def acquire(self, chat: Hashable) -> None:
        keys = [self.prefix + "line", self.prefix + "pause", f"{self.prefix}chat:{chat}"]
        ttl_ms = 60_000
        while True:
            wait, slot = await self._reserve(keys=keys, args=[self.interval, self.chat_interval, ttl_ms])
            wait, slot = float(wait), float(slot)
            if slot < 0:  # this chat must wait first; nothing was reserved
                await self._sleep(wait)
                continue
            if len(self.slots) < 100_000:
                self.slots.append(slot)
            if wait > 0:
                await self._sleep(wait)
            return

    async def aclose(self) -> None:
        await self.redis.aclose()
