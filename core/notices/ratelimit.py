"""Rate-limit arithmetic (pure) and the limiter the dispatcher's senders share (asyncio, no I/O).

Telegram allows about 30 messages a second over all chats (1000 with paid broadcast) and one message a
second to one chat; a 429 answer names how long to stop (retry_after), and then nothing may be sent.
Times here are seconds on a monotonic clock: pacing is about real elapsed time, not the domain clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol


def gcra_reserve(now: float, tat: float, interval: float) -> tuple[float, float]:
    """Reserve the next send on a line that allows one send per `interval` (generic cell rate algorithm
    without burst). `tat` is the line's theoretical arrival time: the earliest the next send may go.
    Returns (when this send may go, the new tat)."""
    at = max(now, tat)
    return at, at + interval


def paused_until(now: float, current: float, retry_after: float) -> float:
    """After a 429 with retry_after at `now`: nothing is sent before the returned time (pauses never shrink)."""
    return max(current, now + max(retry_after, 0.0))


def retry_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Delay before retrying after failed attempt number `attempt` (1, 2, ...): exponential backoff with
    "equal jitter": half of min(cap, base·2^(attempt-1)) fixed, the other half scaled by `jitter` ∈ [0, 1]
    (a random draw the caller makes), so that retries of many messages spread out instead of colliding."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter is a fraction in [0, 1]")
    exponent = min(attempt - 1, 62)
    ceiling = min(cap, base * (2.0**exponent))
    return ceiling / 2 + ceiling / 2 * jitter


class Limiter(Protocol):
    """What the dispatcher's senders need: TelegramLimiter (one worker's memory) or SharedTelegramLimiter
    (every worker, through Redis)."""

    async def acquire(self, chat: Hashable) -> None:
        """Return when a message to `chat` may go."""
        ...

    async def pause(self, retry_after: float) -> None:
        """A 429: nothing goes out for `retry_after` seconds."""
        ...

    def paused_for(self) -> float: ...

    async def aclose(self) -> None: ...


class TelegramLimiter:
    """Shared by a worker's senders: a global rate, a minimum interval per chat, and 429 pauses.

    `acquire(chat)` returns when a message to `chat` may go. Messages to one chat queue behind each other
    (one lock per chat, held while waiting); different chats only share the global line, reserved at once,
    so a chat waiting for its own interval never holds up others.
    """

    def __init__(
        self,
        rate: float,
        chat_interval: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.chat_interval = chat_interval
        self._now = monotonic
        self._sleep = sleep
        self._tat = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[Hashable, float] = {}
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._now())

    async def pause(self, retry_after: float) -> None:
        """A 429: no message goes out for `retry_after` seconds."""
        self._paused_until = paused_until(self._now(), self._paused_until, retry_after)

    async def aclose(self) -> None:
        """Nothing held: the state is this process's memory."""

    async def acquire(self, chat: Hashable) -> None:
        lock = self._enter(chat)
        try:
            async with lock:
                while True:
                    now = self._now()
                    ready = max(self._chat_next.get(chat, 0.0), self._paused_until)
                    if ready > now:
                        await self._sleep(ready - now)
                        continue
                    at, self._tat = gcra_reserve(now, self._tat, self.interval)
                    if at > now:
                        await self._sleep(at - now)
                    if self._paused_until > self._now():  # a 429 arrived meanwhile: wait it out, reserve again
                        continue
                    # from when it really goes (a late wake-up must not shorten the chat's interval)
                    self._chat_next[chat] = max(at, self._now()) + self.chat_interval
                    return
        finally:
            self._leave(chat)

    def _enter(self, chat: Hashable) -> asyncio.Lock:
        lock, users = self._locks.get(chat) or (asyncio.Lock(), 0)
        self._locks[chat] = (lock, users + 1)
        return lock

    def _leave(self, chat: Hashable) -> None:
        lock, users = self._locks[chat]
        if users <= 1:
            del self._locks[chat]
        else:
            self._locks[chat] = (lock, users - 1)
        if len(self._chat_next) > 10_000:  # forget chats whose interval is long over
            now = self._now()
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
