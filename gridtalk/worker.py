"""The worker process: background jobs run tick by tick (`gridtalk worker --once` runs one tick)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker

log = logging.getLogger("gridtalk.worker")

Job = Callable[[], Awaitable[int]]


async def run_jobs_once(jobs: dict[str, Job]) -> dict[str, int]:
    """Run every job once; a job returns how many items it handled. One failing job does not stop the others."""
    done: dict[str, int] = {}
    for name, job in jobs.items():
        try:
            done[name] = await job()
        except Exception:
            log.exception("worker job %s failed", name)
            done[name] = -1
    return done


async def run_worker(
    settings: Settings, *, once: bool = False, clock: Clock | None = None, interval: float = 1.0
) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    jobs: dict[str, Job] = {}
    _ = (sessionmaker, clock or SystemClock())  # the notice and timer jobs are built from these
    try:
        if once:
            log.info("worker tick: %s", await run_jobs_once(jobs))
            return
        log.info("worker started with jobs: %s", ", ".join(jobs) or "none")
        while True:
            await run_jobs_once(jobs)
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()
