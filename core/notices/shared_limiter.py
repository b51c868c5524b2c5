"""The Telegram limiter shared by every worker through Redis (GRIDTALK_REDIS_URL): one global line of send
slots, one interval per chat, one 429 pause for the bot, and one window of the sends that really went,
whichever worker sends.

Every step is one Lua script, atomic in Redis and timed by Redis's own clock (TIME), so workers on different
machines agree. A chat whose interval has not passed is told how long to wait *without* taking a global slot
(the same rule as TelegramLimiter: a waiting chat never holds up the others).

The window is TelegramLimiter's (see core/notices/ratelimit.py): slots 1/rate apart are not enough, since a
worker woken late sends its slot late, bunched with the next ones, and Telegram counts the messages that arrive
in a second. So besides the line, Redis keeps per bot the last `rate` slots reserved (a reservation waits until
at most `rate` of them fall in any window of 1 s + the margin) and the last `rate` times a send really went (a
send waits until at most `rate` of them fall in any window of 1 s + half the margin). A send is recorded when
it goes (a second script, or the reservation itself when nothing is in the way): a late send delays the next
ones instead of bunching with them. The margin is the in-process limiter's: `window_margin` (10 ms) or the time
of `margin_sends` (3) sends, whichever is longer.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Hashable

from redis.asyncio import Redis

from core.notices.ratelimit import MARGIN_SENDS, MAX_WINDOW, WINDOW_MARGIN, margin_at

# Shared by both scripts: whether one more send may go `now` (the window of sends that went), and recording it.
# KEYS[4]: the sends that went (a list of Redis times, oldest first), KEYS[3]: the chat.
_WENT = """
local function window_wait(now, per_window, sent_window)
  if per_window <= 0 or redis.call('LLEN', KEYS[4]) < per_window then
    return 0
  end
  return tonumber(redis.call('LINDEX', KEYS[4], -per_window)) + sent_window - now
end
local function went(now, per_window, chat_interval, ttl)
  if per_window > 0 then
    redis.call('RPUSH', KEYS[4], string.format('%.6f', now))
    redis.call('LTRIM', KEYS[4], -per_window, -1)
    redis.call('PEXPIRE', KEYS[4], ttl)
  end
  local chat_next = tonumber(redis.call('GET', KEYS[3]) or '0')
  if now + chat_interval > chat_next then  -- from when it really went: a late send must not shorten the interval
    redis.call('SET', KEYS[3], string.format('%.6f', now + chat_interval), 'PX', ttl + math.ceil(chat_interval * 1000))
  end
  return string.format('%.6f', now)
end
"""

# KEYS: line, pause, chat, went, reserved. ARGV: interval, chat interval, key lifetime (ms), sends per window
# (0: no window), the slots' window, the sends' window (s).
# Returns {wait, slot, went}: slot = -1 means "the chat is not ready: wait `wait` and ask again" (nothing was
# reserved); otherwise a global slot is reserved at `slot` (Redis time) `wait` seconds away, and went >= 0 means
# the send was already recorded as going now (nothing in the way), -1 that the caller is to wait and then run GO.
_RESERVE = (
    _WENT
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local chat_interval = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local per_window = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local sent_window = tonumber(ARGV[6])
local chat_next = tonumber(redis.call('GET', KEYS[3]) or '0')
if chat_next > now then
  return {string.format('%.6f', chat_next - now), '-1', '-1'}
end
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, pause, tat)
if per_window > 0 then  -- at most per_window slots in any window: the slot per_window back + the window
  if redis.call('LLEN', KEYS[5]) >= per_window then
    at = math.max(at, tonumber(redis.call('LINDEX', KEYS[5], -per_window)) + window)
  end
  redis.call('RPUSH', KEYS[5], string.format('%.6f', at))
  redis.call('LTRIM', KEYS[5], -per_window, -1)
  redis.call('PEXPIRE', KEYS[5], ttl)
end
redis.call('SET', KEYS[1], string.format('%.6f', at + interval), 'PX', ttl)
redis.call('SET', KEYS[3], string.format('%.6f', at + chat_interval), 'PX', ttl + math.ceil(chat_interval * 1000))
local sent = '-1'
if at <= now and window_wait(now, per_window, sent_window) <= 0 then
  sent = went(now, per_window, chat_interval, ttl)
end
return {string.format('%.6f', at - now), string.format('%.6f', at), sent}
"""
)

# KEYS: line, pause, chat, went (the line is not used: the keys are RESERVE's). ARGV: as RESERVE's.
# Run once the reserved slot has come. Returns {went, wait, again}: went >= 0 means the send was recorded as
# going now (Redis time); otherwise wait `wait` seconds and run GO again, or, with again = 1 (a 429 pause came
# meanwhile), RESERVE again.
_GO = (
    _WENT
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local chat_interval = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local per_window = tonumber(ARGV[4])
local sent_window = tonumber(ARGV[6])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  return {'-1', string.format('%.6f', pause - now), '1'}
end
local wait = window_wait(now, per_window, sent_window)
if wait > 0 then
  return {'-1', string.format('%.6f', wait), '0'}
end
return {went(now, per_window, chat_interval, ttl), '0', '0'}
"""
)

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

KEY_LIFETIME_MS = 60_000  # the line, a chat's interval and the windows outlive their last use by this much
KEPT = 100_000  # slots and sends this limiter remembers for inspection (`slots`, `sent`)


class SharedTelegramLimiter:
    """TelegramLimiter's contract (acquire, pause, paused_for), with its state in Redis."""

    def __init__(
        self,
        redis: Redis,
        rate: float,
        chat_interval: float,
        *,
        namespace: str = "default",
        window_margin: float = WINDOW_MARGIN,
        margin_sends: float = MARGIN_SENDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if window_margin < 0 or margin_sends < 0:
            raise ValueError("the window's margin must not be negative")
        self.redis = redis
        self.interval = 1.0 / rate
        self.chat_interval = chat_interval
        margin = margin_at(rate, window_margin, margin_sends)
        self.window = 1.0 + margin  # the slots reserved: at most `rate` in any window this long
        self.sent_window = 1.0 + margin / 2  # the sends as they went: at most `rate` in any window this long
        per_window = math.floor(rate + 1e-9)
        self.per_window = per_window if 1 <= per_window <= MAX_WINDOW else 0  # 0: no window (as TelegramLimiter)
        self.prefix = f"gridtalk:telegram:{namespace}:"
        self._sleep = sleep
        self._reserve = redis.register_script(_RESERVE)
        self._go = redis.register_script(_GO)
        self._pause = redis.register_script(_PAUSE)
        self._paused_for = 0.0
        self.slots: list[float] = []  # the global slots this limiter took (Redis time), newest last
        self.sent: list[float] = []  # when this limiter's sends went (Redis time), newest last

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
        p = self.prefix
        keys = [p + "line", p + "pause", f"{p}chat:{chat}", p + "went", p + "reserved"]
        args = [self.interval, self.chat_interval, KEY_LIFETIME_MS, self.per_window, self.window, self.sent_window]
        while True:
            wait, slot, went = await self._reserve(keys=keys, args=args)
            if float(slot) < 0:  # this chat must wait first; nothing was reserved
                await self._sleep(float(wait))
                continue
            self._keep(self.slots, float(slot))
            if float(went) >= 0:  # nothing in the way: it went at once
                self._keep(self.sent, float(went))
                return
            if float(wait) > 0:
                await self._sleep(float(wait))
            while True:  # the slot has come: go if the sends' window allows (late sends bunched: spread them)
                went, wait, again = await self._go(keys=keys[:4], args=args)
                if float(went) >= 0:
                    self._keep(self.sent, float(went))
                    return
                await self._sleep(float(wait))
                if int(again):  # a 429 came meanwhile: it has been waited out, reserve again
                    self._paused_for = float(wait)
                    break

    @staticmethod
    def _keep(times: list[float], at: float) -> None:
        if len(times) < KEPT:
            times.append(at)

    async def aclose(self) -> None:
        await self.redis.aclose()
