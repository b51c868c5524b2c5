"""Rate-limit arithmetic (properties) and the senders' limiter, run on virtual time (no real waiting)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.notices.ratelimit import TelegramLimiter, gcra_reserve, paused_until, retry_delay, sustained_rate


class VirtualTime:
    """A monotonic clock and a sleep that only advance when every task is waiting on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._wakes: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._wakes, (self.now + max(seconds, 0.0), next(self._seq), future))
        await future

    async def run(self, *coros: Awaitable[object]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._wakes and not all(t.done() for t in tasks):
                at, _, future = heapq.heappop(self._wakes)
                self.now = max(self.now, at)
                future.set_result(None)
        for t in tasks:
            t.result()


# ------------------------------------------------------------------------------------- pure arithmetic


@given(now=st.floats(0, 1e6), tat=st.floats(0, 1e6), interval=st.floats(1e-3, 10))
def test_gcra_never_before_now_or_the_line(now: float, tat: float, interval: float) -> None:
    at, new_tat = gcra_reserve(now, tat, interval)
    assert at >= now and at >= tat
    assert new_tat == at + interval


@given(
    arrivals=st.lists(st.floats(0, 100), min_size=1, max_size=300),
    rate=st.sampled_from([1.0, 30.0, 1000.0]),
)
def test_gcra_sequence_keeps_the_rate_in_every_window(arrivals: list[float], rate: float) -> None:
    tat, sends = 0.0, []
    for now in sorted(arrivals):
        at, tat = gcra_reserve(now, tat, 1 / rate)
        sends.append(at)
    assert sends == sorted(sends)
    assert all(b - a >= 1 / rate - 1e-9 for a, b in itertools.pairwise(sends))


@given(now=st.floats(0, 1e6), current=st.floats(0, 1e6), retry_after=st.floats(-5, 3600))
def test_pauses_never_shrink(now: float, current: float, retry_after: float) -> None:
    until = paused_until(now, current, retry_after)
    assert until >= current and until >= now + max(retry_after, 0)


@given(
    attempt=st.integers(1, 100),
    base=st.floats(0.01, 60),
    cap=st.floats(0.01, 3600),
    jitter=st.floats(0, 1),
)
def test_retry_delay_is_bounded_and_jittered(attempt: int, base: float, cap: float, jitter: float) -> None:
    delay = retry_delay(attempt, base, cap, jitter)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9
    assert delay <= cap + 1e-9


@given(base=st.floats(0.01, 60), cap=st.floats(0.01, 3600), jitter=st.floats(0, 1))
def test_retry_delay_grows_until_the_cap(base: float, cap: float, jitter: float) -> None:
    delays = [retry_delay(a, base, cap, jitter) for a in range(1, 30)]
    assert delays == sorted(delays)


# ---------------------------------------------------------------------------------- the limiter itself


def windows_ok(times: list[float], rate: float) -> bool:
    """At most `rate` sends in any half-open second [t, t+1)."""
    times = sorted(times)
    limit = int(rate + 1e-9)
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - 1 + 1e-9:
            j += 1
        if i - j + 1 > limit:
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(
    chats=st.lists(st.integers(1, 8), min_size=1, max_size=60),
    rate=st.sampled_from([5.0, 30.0]),
    pause_at=st.one_of(st.none(), st.tuples(st.integers(1, 50), st.integers(1, 5))),
)
def test_limiter_keeps_global_and_per_chat_limits_and_pauses(
    chats: list[int], rate: float, pause_at: tuple[int, int] | None
) -> None:
    async def scenario() -> None:
        vt = VirtualTime()
        limiter = TelegramLimiter(rate, 1.0, monotonic=vt.monotonic, sleep=vt.sleep)
        sent: list[tuple[float, int]] = []
        pauses: list[tuple[float, float]] = []

        async def send(index: int, chat: int) -> None:
            await limiter.acquire(chat)
            sent.append((vt.now, chat))
            if pause_at is not None and index == pause_at[0]:
                await limiter.pause(pause_at[1])
                pauses.append((vt.now, vt.now + pause_at[1]))

        await vt.run(*(send(i, c) for i, c in enumerate(chats)))
        assert len(sent) == len(chats)
        assert windows_ok([t for t, _ in sent], rate)
        for chat in set(chats):
            times = sorted(t for t, c in sent if c == chat)
            assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times))
        for start, end in pauses:
            assert not [t for t, _ in sent if start < t < end - 1e-9]

    asyncio.run(scenario())


def test_a_chat_waiting_for_its_interval_does_not_hold_up_other_chats() -> None:
    async def scenario() -> list[tuple[float, int]]:
        vt = VirtualTime()
        limiter = TelegramLimiter(10, 1.0, monotonic=vt.monotonic, sleep=vt.sleep)
        sent: list[tuple[float, int]] = []

        async def send(chat: int) -> None:
            await limiter.acquire(chat)
            sent.append((round(vt.now, 3), chat))

        await vt.run(*(send(c) for c in [1, 1, 1, 2, 3, 4]))
        return sent

    sent = asyncio.run(scenario())
    assert [t for t, c in sent if c == 1] == [0.0, 1.0, 2.0]
    assert max(t for t, c in sent if c != 1) < 1.0  # chats 2, 3 and 4 went in the first second


def windows_within(times: list[float], limit: int, window: float) -> bool:
    """Whether every window of `window` seconds holds at most `limit` of these (sorted) times."""
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-9:
            j += 1
        if i - j + 1 > limit:
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(
    lags=st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.05, 0.3]), min_size=20, max_size=120),
    rate=st.sampled_from([5.0, 30.0, 100.0]),
)
def test_senders_woken_late_do_not_go_bunched(lags: list[float], rate: float) -> None:
    """Senders that oversleep (a busy event loop) would all go at once on their reserved slots; the limiter's
    window spreads them, so every window of 1 s + half its margin holds at most `rate` sends however late they
    woke."""

    async def scenario() -> tuple[list[float], TelegramLimiter]:
        vt = VirtualTime()
        oversleep = iter(lags)

        async def late_sleep(seconds: float) -> None:
            await vt.sleep(seconds + next(oversleep, 0.0))

        limiter = TelegramLimiter(rate, 0.0, monotonic=vt.monotonic, sleep=late_sleep)
        sent: list[float] = []

        async def send(chat: int) -> None:
            await limiter.acquire(chat)
            sent.append(vt.now)

        await vt.run(*(send(chat) for chat in range(len(lags))))
        return sorted(sent), limiter

    sent, limiter = asyncio.run(scenario())
    assert len(sent) == len(lags)
    assert limiter.window > limiter.sent_window > 1.0
    assert windows_within(sent, int(rate), limiter.sent_window)


def test_the_window_costs_its_margin_of_the_rate() -> None:
    """At most `rate` sends in any 1 s + margin: 10 ms at a high rate, three sends' time at a low one."""
    assert TelegramLimiter(1000, 1.0).window == 1.01
    assert abs(TelegramLimiter(30, 1.0).window - (1 + 3 / 30)) < 1e-9
    assert TelegramLimiter(30, 1.0, window_margin=0.0, margin_sends=0.0).window == 1.0


@pytest.mark.parametrize("rate", [30.0, 100.0])
def test_the_sustained_rate_is_what_a_long_fan_out_keeps_up(rate: float) -> None:
    """sustained_rate, which the planner sizes a stage's lead with, is what the limiter really sends over a
    long fan-out (30/s → 27.3/s), not the nominal rate; without a window (below one a second) it is the rate."""

    async def scenario() -> list[float]:
        vt = VirtualTime()
        limiter = TelegramLimiter(rate, 0.0, monotonic=vt.monotonic, sleep=vt.sleep)
        sent: list[float] = []

        async def send(chat: int) -> None:
            await limiter.acquire(chat)
            sent.append(vt.now)

        await vt.run(*(send(chat) for chat in range(int(rate) * 60)))
        return sorted(sent)

    sent = asyncio.run(scenario())
    kept_up = (len(sent) - 1) / (sent[-1] - sent[0])
    assert abs(kept_up - sustained_rate(rate)) / sustained_rate(rate) < 0.01
    assert sustained_rate(rate) < rate
    assert abs(sustained_rate(30) - 30 / 1.1) < 1e-9 and abs(sustained_rate(1000) - 1000 / 1.01) < 1e-9
    assert sustained_rate(0.05) == 0.05
