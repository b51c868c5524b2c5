"""What the benchmarks share: percentiles, the scratch PostgreSQL databases they make and drop (and the fill times
a kept one carries for a later --reuse), a recorder of the statements an engine runs and the scans of their plans,
a simulated clock."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(call: Callable[[int], Awaitable[object]], requests: int, concurrency: int) -> dict[str, Any]:
    """`requests` calls (numbered 0…) from `concurrency` workers; latency percentiles and throughput."""
    latencies: list[float] = []
    numbers = iter(range(requests))

    async def worker() -> None:
        for n in numbers:
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": requests,
        "concurrency": concurrency,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "throughput_rps": round(requests / elapsed, 1),
    }


def refuses_remote(url: str) -> bool:
    """True (and says why) when `url` is not on this machine: a benchmark makes and drops databases only here."""
    host = make_url(url).host or ""
    if host in {"127.0.0.1", "localhost", "::1"}:
        return False
    print(f"refusing {host!r}: the benchmark makes and drops a scratch database on this machine only")
    return True


def scratch_url(url: str, database: str) -> str:
    """`url` naming the scratch database `database` on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def admin(url: str, *statements: str) -> None:
    """Statements outside a transaction (CREATE / DROP DATABASE), on the server's `postgres` database."""
    engine = make_engine(scratch_url(url, "postgres"))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


FILL_TABLE = "bench_fill_seconds"  # in a kept scratch database: how long its fill took, step by step
FILL_CARRIED = (
    "carried from the earlier run that filled the kept database (make bench: a --fill-only run beside the other "
    "fill and the fan-out's 30/s run, so not a time of its own on a quiet machine)"
)


async def record_fill(url: str, seconds: dict[str, float]) -> None:
    """Keep a fill's `seconds` (step → seconds) in the scratch database at `url`, for a --reuse to report."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            columns = "position int PRIMARY KEY, step text NOT NULL, seconds float NOT NULL"
            await conn.execute(text(f"CREATE TABLE {FILL_TABLE} ({columns})"))
            await conn.execute(
                text(f"INSERT INTO {FILL_TABLE} VALUES (:position, :step, :seconds)"),
                [{"position": i, "step": k, "seconds": v} for i, (k, v) in enumerate(seconds.items())],
            )
    finally:
        await engine.dispose()


async def recorded_fill(url: str) -> dict[str, float]:
    """The fill's seconds record_fill kept in the database at `url`; {} when none (no such database, or its fill
    did not run to its end): a --reuse reuses only a database with a record."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if not await conn.scalar(text(f"SELECT to_regclass('{FILL_TABLE}') IS NOT NULL")):
                return {}
            rows = await conn.execute(text(f"SELECT step, seconds FROM {FILL_TABLE} ORDER BY position"))
            return {step: float(seconds) for step, seconds in rows}
    except Exception:  # no such database
        return {}
    finally:
        await engine.dispose()


@dataclass
class Recorder:
    """Every statement the engine runs while `on`: its SQL, parameters and duration (fetching included)."""

    on: bool = False
    statements: list[tuple[str, Any, float]] = field(default_factory=list)

    def attach(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
            conn.info["bench_began"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            if self.on:
                self.statements.append((statement, parameters, time.perf_counter() - conn.info["bench_began"]))

    def take(self) -> list[tuple[str, Any, float]]:
        taken, self.statements = self.statements, []
        return taken


def scans(plan: dict[str, Any]) -> list[str]:
    """The plan's scans (EXPLAIN FORMAT JSON), depth first: 'Index Scan ix_x on table', 'Seq Scan on table'."""
    found = []
    node = plan.get("Node Type", "")
    if "Scan" in node and "Relation Name" in plan:
        index = f" {plan['Index Name']}" if plan.get("Index Name") else ""
        found.append(f"{node}{index} on {plan['Relation Name']}")
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


class SimulatedTime:
    """A simulated monotonic clock (a limiter's `monotonic` and `sleep`): sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
