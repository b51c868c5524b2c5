"""Telegram's limits kept by all workers together through Redis (GRIDTALK_REDIS_URL): the slots two limiters
take are spaced as one line, a chat's interval holds across workers, and a 429 pauses every worker."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from core.clock import FrozenClock
from core.db import session_scope
from core.notices.shared_limiter import SharedTelegramLimiter
from gridtalk.worker import make_limiter, run_worker
from tests.conftest import unavailable
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import channel_settings, draft, load_demo_world, rows
from tests.support.services import core_services


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    url = os.environ.get("GRIDTALK_TEST_REDIS_URL")
    if not url:
        unavailable("GRIDTALK_TEST_REDIS_URL is not set")
    assert url is not None
    client = Redis.from_url(url)
    try:
        await client.ping()
    except OSError as exc:
        unavailable(f"Redis at {url} is unreachable: {exc}")
    finally:
        await client.aclose()
    yield url


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[SharedTelegramLimiter, SharedTelegramLimiter]]:
    """Two workers' limiters on one bot (a namespace of this test's own)."""
    namespace = uuid.uuid4().hex
    one = SharedTelegramLimiter.from_url(redis_url, 50, 0.3, namespace=namespace)
    two = SharedTelegramLimiter.from_url(redis_url, 50, 0.3, namespace=namespace)
    yield one, two
    await one.redis.delete(*[k async for k in one.redis.scan_iter(f"gridtalk:telegram:{namespace}:*")])
    await one.aclose()
    await two.aclose()


async def test_two_workers_take_slots_from_one_line(pair: tuple[SharedTelegramLimiter, SharedTelegramLimiter]) -> None:
    one, two = pair
    await asyncio.gather(*(limiter.acquire(f"c{i}") for i in range(20) for limiter in (one, two)))
    slots = sorted(one.slots + two.slots)
    assert len(one.slots) == len(two.slots) == 20
    assert all(b - a >= 1 / 50 - 1e-6 for a, b in itertools.pairwise(slots))  # 50/s over both, not 50/s each


async def test_a_chats_interval_holds_across_workers_without_holding_up_other_chats(
    pair: tuple[SharedTelegramLimiter, SharedTelegramLimiter],
) -> None:
    one, two = pair
    await one.acquire(7)
    first = one.slots[-1]
    await asyncio.gather(two.acquire(7), one.acquire(8))
    assert two.slots[-1] - first >= 0.3 - 1e-6  # chat 7 waited for its interval, on the other worker too
    assert one.slots[-1] - first < 0.2  # chat 8 did not wait for chat 7


async def test_a_429_pauses_every_worker(pair: tuple[SharedTelegramLimiter, SharedTelegramLimiter]) -> None:
    one, two = pair
    seconds, micros = await one.redis.time()
    paused_at = seconds + micros / 1e6
    await one.pause(0.4)
    assert one.paused_for() == 0.4
    await two.acquire("x")
    assert two.slots[-1] >= paused_at + 0.4 - 1e-3


async def test_the_worker_uses_the_shared_limits_when_redis_is_set(
    redis_url: str, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    async with FakeTelegramApi() as api:
        settings = channel_settings(database_url, api, None, redis_url=redis_url)
        assert isinstance(make_limiter(settings), SharedTelegramLimiter)
        await load_demo_world(sessionmaker, clock.now())
        async with session_scope(sessionmaker) as session:
            outage = await core_services(clock, settings).outages.create(
                session, draft(clock.now() + timedelta(days=3)), actor_id=None
            )
            await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
        await run_worker(settings, once=True, clock=clock)
        initial = await rows(sessionmaker, outage.id, stage="initial")
        assert {d.status for d in initial} == {"sent"} and len(api.sent()) == len(initial)


def most_in_one_second(times: list[float]) -> int:
    """The most of `times` in any window [t, t + 1 s) (sliding: every window starting at a send)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


class WakesLate:
    """A sleep that now and then oversleeps, as an event loop busy elsewhere does: every `every`-th sleep wakes
    `late` seconds after it was due."""

    def __init__(self, every: int, late: float) -> None:
        self.every, self.late, self.calls = every, late, 0

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        await asyncio.sleep(seconds + (self.late if self.calls % self.every == 0 else 0.0))


async def test_late_senders_of_two_workers_never_put_more_than_rate_sends_in_one_second(redis_url: str) -> None:
    namespace = uuid.uuid4().hex
    rate = 20
    one, two = (
        SharedTelegramLimiter(Redis.from_url(redis_url), rate, 0.0, namespace=namespace, sleep=WakesLate(3, 0.3))
        for _ in range(2)
    )
    went: list[float] = []  # when each send really went (this process's clock: both workers live here)

    async def send(limiter: SharedTelegramLimiter, chat: str) -> None:
        await limiter.acquire(chat)
        went.append(time.monotonic())

    try:
        await asyncio.gather(*(send(limiter, f"c{i}") for i in range(22) for limiter in (one, two)))
    finally:
        await one.redis.delete(*[k async for k in one.redis.scan_iter(f"gridtalk:telegram:{namespace}:*")])
        await one.aclose()
        await two.aclose()
    assert len(went) == 44 and len(one.sent) == len(two.sent) == 22
    assert most_in_one_second(went) <= rate  # the late sends did not bunch with the next ones
    assert most_in_one_second(one.sent + two.sent) <= rate  # nor in Redis's clock, which both workers share


async def test_a_429_holds_the_sends_already_waiting_for_their_slots(
    pair: tuple[SharedTelegramLimiter, SharedTelegramLimiter],
) -> None:
    one, two = pair
    waiting = [asyncio.create_task(limiter.acquire(f"c{i}")) for i in range(10) for limiter in (one, two)]
    await asyncio.sleep(0.05)  # every slot reserved (20 at 50/s: up to 0.4 s ahead), the first ones gone
    before = await redis_now(one)
    await one.pause(0.4)
    after = await redis_now(one)  # the pause began in between
    await asyncio.gather(*waiting)
    went = one.sent + two.sent
    assert len(went) == 20
    assert all(t <= after or t >= before + 0.4 - 1e-3 for t in went)  # none went during the pause
    assert any(t >= before + 0.4 - 1e-3 for t in went)


async def redis_now(limiter: SharedTelegramLimiter) -> float:
    seconds, micros = await limiter.redis.time()
    return seconds + micros / 1e6
