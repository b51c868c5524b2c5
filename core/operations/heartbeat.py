"""Worker liveness: each worker tick records a heartbeat (`worker@host:pid`); readiness asks whether some worker
beat recently. Built once per process; every call takes the caller's session (the caller commits)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.operations.repository import WorkerHeartbeatRepository

FORGET_AFTER = timedelta(days=1)  # rows of workers gone this long are deleted (each restart is a new name)


class WorkerState(StrEnum):
    OK = "ok"  # some worker beat within the staleness limit
    STALE = "stale"  # none did (or none ever beat)
    UNKNOWN = "unknown"  # cannot tell: the database, where heartbeats are kept, does not answer


def worker_name(host: str | None = None, pid: int | None = None) -> str:
    """This process's heartbeat name, `worker@host:pid`, cut to the column's 64 characters (the pid kept)."""
    suffix = f":{os.getpid() if pid is None else pid}"
    return f"worker@{host or socket.gethostname()}"[: 64 - len(suffix)] + suffix


class Heartbeats:
    def __init__(self, clock: Clock, stale_after: timedelta) -> None:
        self.clock = clock
        self.stale_after = stale_after

    async def beat(self, session: AsyncSession, name: str) -> None:
        now = self.clock.now()
        repo = WorkerHeartbeatRepository(session)
        await repo.upsert(name, now)
        await repo.delete_before(now - FORGET_AFTER)

    async def worker_state(self, session: AsyncSession) -> WorkerState:
        latest = await WorkerHeartbeatRepository(session).latest()
        if latest is not None and self.clock.now() - latest < self.stale_after:
            return WorkerState.OK
        return WorkerState.STALE
