"""Rate-limit arithmetic (pure) and the limiter the dispatcher's senders share (asyncio, no I/O).

Telegram allows about 30 messages a second over all chats (1000 with paid broadcast) and one message a
second to one chat; a 429 answer names how long to stop (retry_after), and then nothing may be sent.
Times here are seconds on a monotonic clock: pacing is about real elapsed time, not the domain clock.

Telegram counts the messages that *arrive* in a second. Sends paced exactly at the rate arrive bunched now and
then (a sender woken late by a busy moment goes together with the next one), and one bunch is enough for a 429
and a pause of a second or more. So besides the even pacing, the limiter keeps every window of 1 s + a margin
to at most `rate` sends, counted when they really go: a late send delays the next ones instead of bunching with
them, and sends bunched on the way by less than the margin stay under the cap. (The slots are reserved a
full margin apart and the sends held to half of it, so that the usual few milliseconds of wake-up delay never
hold anybody up: only a send later than half the margin delays the ones after it.) The margin is
`window_margin` (10 ms) or the time of `margin_sends` (3) sends, whichever is longer; it costs as much of the
rate: 1000/s → 990/s (10 ms), 30/s → 27.3/s (100 ms: at a low rate two sends arriving together are enough to
go over, so the margin holds a few of them).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol

WINDOW_MARGIN = 0.01  # seconds added to Telegram's one-second window, at least (see above)
MARGIN_SENDS = 3.0  # ...and at least the time this many sends take at the rate
MAX_WINDOW = 10_000  # rates above this many a second (a limiter opened wide) keep no window
CHATS_KEPT = 10_000  # chats whose interval is remembered before the ones long over are forgotten


def margin_at(rate: float, least: float = WINDOW_MARGIN, sends: float = MARGIN_SENDS) -> float:
    """The margin added to the one-second window at `rate`: `least` seconds, or the time of `sends` sends."""
    return max(least, sends / rate)


def sustained_rate(rate: float) -> float:
    """The sends a second the limiter keeps up over a long fan-out at `rate`: at most the whole number of sends in
    a second in any window of 1 s + the margin (30/s → 27.3/s), or `rate` itself when it keeps no window. What
    the planner sizes a stage's lead with, so that the last send of a big final notice is not late."""
    per_window = math.floor(rate + 1e-9)
    if not 1 <= per_window <= MAX_WINDOW:
        return rate
    return min(rate, per_window / (1.0 + margin_at(rate)))


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
    """Shared by a worker's senders: a global rate, a minimum interval per chat, 429 pauses, and the window
    that keeps late sends from arriving bunched.

    `acquire(chat)` returns when a message to `chat` may go. Messages to one chat queue behind each other
    (one lock per chat, held while waiting); different chats only share the global line, reserved at once,
    so a chat waiting for its own interval never holds up others. A send with nothing to wait for (the usual
    case below the rate) takes no lock at all.
    """

    def __init__(
        self,
        rate: float,
        chat_interval: float,
        *,
        window_margin: float = WINDOW_MARGIN,
        margin_sends: float = MARGIN_SENDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if window_margin < 0 or margin_sends < 0:
            raise ValueError("the window's margin must not be negative")
        self.interval = 1.0 / rate
        self.chat_interval = chat_interval
        margin = margin_at(rate, window_margin, margin_sends)
        self.window = 1.0 + margin  # the slots reserved: at most `rate` in any window this long
        # the sends as they really went: at most `rate` in any window this long. Half the margin: a send late by
        # less than that (the usual wake-up delay) holds up nobody, so small delays never add up to a lower rate
        self.sent_window = 1.0 + margin / 2
        self._now = monotonic
        self._sleep = sleep
        self._tat = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[Hashable, float] = {}
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}
        per_window = math.floor(rate + 1e-9)
        # when the last `rate` sends went (None: a rate too high for a window, or below one a second)
        windowed = 1 <= per_window <= MAX_WINDOW
        self._went_at: deque[float] | None = deque(maxlen=per_window) if windowed else None
        # the slots reserved for the last `rate` sends: a reservation keeps the window too, so that senders
        # sleep until their own slot instead of all waking whenever the window moves
        self._reserved: deque[float] | None = deque(maxlen=per_window) if windowed else None

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._now())

    async def pause(self, retry_after: float) -> None:
        """A 429: no message goes out for `retry_after` seconds."""
        self._paused_until = paused_until(self._now(), self._paused_until, retry_after)

    async def aclose(self) -> None:
        """Nothing held: the state is this process's memory."""

    async def acquire(self, chat: Hashable) -> None:
        now = self._now()
        if chat not in self._locks and self._chat_next.get(chat, 0.0) <= now and self._free(now):
            self._reserve(now)  # (now: nothing is in the way)
            self._went(chat, now)
            return
        lock = self._enter(chat)
        try:
            async with lock:
                while True:
                    now = self._now()
                    ready = max(self._chat_next.get(chat, 0.0), self._paused_until)
                    if ready > now:
                        await self._sleep(ready - now)
                        continue
                    at = self._reserve(now)
                    if at > now:
                        await self._sleep(at - now)
                    while (wait := self._window_wait(self._now())) > 0:  # late sends bunched: spread them
                        await self._sleep(wait)
                    if self._paused_until > self._now():  # a 429 arrived meanwhile: wait it out, reserve again
                        continue
                    # from when it really goes (a late wake-up must not shorten the chat's interval)
                    self._went(chat, max(at, self._now()))
                    return
        finally:
            self._leave(chat)

    def _free(self, now: float) -> bool:
        """Whether a send may go now: no pause, the line's slot come, the window not full (reserved or sent)."""
        reserved = self._reserved
        return (
            self._paused_until <= now
            and self._tat <= now
            and self._window_wait(now) <= 0
            and (not reserved or len(reserved) < (reserved.maxlen or 0) or reserved[0] + self.window <= now)
        )

    def _reserve(self, now: float) -> float:
        """The next slot of the global line (at the rate, and `rate` slots at most in any window)."""
        at, self._tat = gcra_reserve(now, self._tat, self.interval)
        reserved = self._reserved
        if reserved is not None:
            if len(reserved) == reserved.maxlen and reserved[0] + self.window > at:
                at = reserved[0] + self.window
                self._tat = at + self.interval
            reserved.append(at)
        return at

    def _window_wait(self, now: float) -> float:
        """How long until one more send keeps every window to `rate` sends (≤ 0: it may go now)."""
        went = self._went_at
        if went is None or len(went) < (went.maxlen or 0):
            return 0.0
        return went[0] + self.sent_window - now

    def _went(self, chat: Hashable, at: float) -> None:
        if self._went_at is not None:
            self._went_at.append(self._now())
        self._chat_next[chat] = at + self.chat_interval
        if len(self._chat_next) > CHATS_KEPT:  # forget chats whose interval is long over
            now = self._now()
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}

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
