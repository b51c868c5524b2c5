"""Worker liveness: each tick upserts the worker's heartbeat row; a worker is stale once its last beat is older
than the limit, and fresh again at its next beat."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import WorkerHeartbeat
from core.operations.heartbeat import Heartbeats, WorkerState, worker_name
from gridtalk.worker import run_worker

STALE = timedelta(seconds=60)


async def heartbeats_in(sessionmaker) -> dict[str, object]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as session:
        return {row.name: row.beat_at for row in await session.scalars(select(WorkerHeartbeat))}


async def state(sessionmaker, heartbeats: Heartbeats) -> WorkerState:  # type: ignore[no-untyped-def]
    async with sessionmaker() as session:
        return await heartbeats.worker_state(session)


def test_the_name_is_worker_at_host_pid_and_fits_the_column() -> None:
    assert worker_name() == f"worker@{socket.gethostname()}:{os.getpid()}"
    long = worker_name(host="h" * 100, pid=4194304)
    assert len(long) == 64 and long.endswith(":4194304") and long.startswith("worker@hhh")


async def test_no_heartbeat_is_stale_a_beat_is_ok_until_it_ages(sessionmaker, clock: FrozenClock) -> None:
    heartbeats = Heartbeats(clock, STALE)
    assert await state(sessionmaker, heartbeats) == WorkerState.STALE
    async with session_scope(sessionmaker) as session:
        await heartbeats.beat(session, "worker@a:1")
    assert await state(sessionmaker, heartbeats) == WorkerState.OK
    clock.advance(STALE - timedelta(seconds=1))
    assert await state(sessionmaker, heartbeats) == WorkerState.OK
    clock.advance(timedelta(seconds=1))
    assert await state(sessionmaker, heartbeats) == WorkerState.STALE
    # another worker (a restarted one: a new pid) beating makes it ok again; the row is upserted, not added
    async with session_scope(sessionmaker) as session:
        await heartbeats.beat(session, "worker@a:2")
    clock.advance(timedelta(seconds=5))
    async with session_scope(sessionmaker) as session:
        await heartbeats.beat(session, "worker@a:2")
    assert await state(sessionmaker, heartbeats) == WorkerState.OK
    rows = await heartbeats_in(sessionmaker)
    assert rows == {"worker@a:1": clock.now() - STALE - timedelta(seconds=5), "worker@a:2": clock.now()}


async def test_rows_of_workers_gone_for_a_day_are_forgotten(sessionmaker, clock: FrozenClock) -> None:
    heartbeats = Heartbeats(clock, STALE)
    async with session_scope(sessionmaker) as session:
        await heartbeats.beat(session, "worker@old:1")
    clock.advance(timedelta(days=1, seconds=1))
    async with session_scope(sessionmaker) as session:
        await heartbeats.beat(session, "worker@new:2")
    assert set(await heartbeats_in(sessionmaker)) == {"worker@new:2"}


async def test_a_worker_tick_records_its_heartbeat(sessionmaker, clock: FrozenClock, settings: Settings) -> None:
    await run_worker(settings.model_copy(update={"worker_metrics_port": 0}), once=True, clock=clock)
    assert await heartbeats_in(sessionmaker) == {worker_name(): clock.now()}
    clock.advance(timedelta(minutes=5))
    await run_worker(settings.model_copy(update={"worker_metrics_port": 0}), once=True, clock=clock)
    assert await heartbeats_in(sessionmaker) == {worker_name(): clock.now()}
