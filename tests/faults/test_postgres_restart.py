"""PostgreSQL goes away and comes back while a real `gridtalk api` serves the web chat and a real `gridtalk worker`
ticks: both recover by themselves — /readyz 200 again, chat requests succeed again, the worker is still the
same process and its heartbeat moves on.

The test starts a throwaway cluster of its own (initdb + pg_ctl on a free port, under the system's temp
folder), migrates it, starts the two processes against it, then stops the cluster (fast shutdown: every
connection is cut), keeps it down for DOWN_SECONDS while the chat traffic goes on, and starts it again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.pool import NullPool

from core.db import make_engine, make_sessionmaker
from core.db.migrate import upgrade
from core.operations.repository import WorkerHeartbeatRepository
from nlu.project import free_port
from tests.support.processes import PgCluster, Service, clean_env, record_figures, wait_until

DOWN_SECONDS = 3.0
STALE_SECONDS = 5  # GRIDTALK_WORKER_STALE_SECONDS: /readyz wants a beat this fresh
REQUEST_TIMEOUT = 10.0
INF = float("inf")


@dataclass
class Traffic:
    """A customer chatting all along: one web-chat message every `every` seconds, each outcome recorded as
    (when it was sent, monotonic; HTTP status or the error's name; seconds it took)."""

    base: str
    session_id: str
    every: float = 0.25
    outcomes: list[tuple[float, int | str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT + 5)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT) as http:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    status: int | str = http.post(
                        f"/api/v1/chat/sessions/{self.session_id}/messages", json={"text": "现在停电了吗"}
                    ).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.outcomes.append((sent, status, time.monotonic() - sent))
                self._stop.wait(self.every)

    def between(self, start: float, end: float) -> list[tuple[float, int | str, float]]:
        return [o for o in list(self.outcomes) if start <= o[0] < end]


def latest_beat(url: str) -> datetime | None:
    """The newest worker heartbeat, read over a connection of its own (none kept across the restart)."""

    async def read() -> datetime | None:
        engine = make_engine(url, poolclass=NullPool)
        try:
            async with make_sessionmaker(engine)() as session:
                return await WorkerHeartbeatRepository(session).latest()
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    pg = PgCluster(free_port())
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def services(cluster: PgCluster, rasa_url: str) -> Iterator[tuple[Service, Service, str]]:
    """`gridtalk api` and `gridtalk worker` on the cluster (migrated first); stopped at the end."""
    upgrade(cluster.url())
    port = free_port()
    env = clean_env(
        GRIDTALK_DATABASE_URL=cluster.url(),
        GRIDTALK_API_HOST="127.0.0.1",
        GRIDTALK_API_PORT=str(port),
        GRIDTALK_RASA_URL=rasa_url,
        GRIDTALK_REQUIRE_WORKER="true",
        GRIDTALK_WORKER_STALE_SECONDS=str(STALE_SECONDS),
        GRIDTALK_WORKER_METRICS_PORT="0",
        GRIDTALK_LOG_LEVEL="INFO",
    )
    api = Service(["api"], env, "gridtalk api")
    worker = Service(["worker"], env, "gridtalk worker")
    try:
        yield api, worker, f"http://127.0.0.1:{port}"
    finally:
        for service in (api, worker):
            service.stop()


def recovery(base: str, url: str, back_at: float, back_wall: datetime) -> tuple[float, float]:
    """Seconds from the database's return until /readyz answers 200, and until the worker's first heartbeat
    after it (from the beat's own time), both watched in one loop."""
    ready_after: float | None = None
    beat_after: float | None = None
    while ready_after is None or beat_after is None:
        assert time.monotonic() - back_at < 30, f"not recovered within 30 s: readyz {ready_after}, beat {beat_after}"
        if ready_after is None and (r := readyz(base)) is not None and r.status_code == 200:
            ready_after = time.monotonic() - back_at
        if beat_after is None and (beat := latest_beat(url)) is not None and beat > back_wall:
            beat_after = (beat - back_wall).total_seconds()
        time.sleep(0.05)
    return ready_after, beat_after


def readyz(base: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{base}/readyz", timeout=REQUEST_TIMEOUT)
    except httpx.HTTPError:
        return None


def test_api_and_worker_recover_from_a_postgres_restart(
    cluster: PgCluster, services: tuple[Service, Service, str]
) -> None:
    api, worker, base = services
    try:
        started = wait_until(lambda: (r := readyz(base)) is not None and r.status_code == 200, 60, 0.2, "/readyz")
    except AssertionError:
        pytest.fail(f"/readyz not 200 within 60 s\n{api.output()}\n{worker.output()}")
    worker_pid = worker.proc.pid
    created = httpx.post(f"{base}/api/v1/chat/sessions", json={"language": "zh"}, timeout=REQUEST_TIMEOUT)
    assert created.status_code == 201, created.text
    traffic = Traffic(base, created.json()["session_id"])
    traffic.start()
    try:
        wait_until(lambda: any(o[1] == 200 for o in traffic.outcomes), 20, what="a chat answer before the restart")
        beat_before = latest_beat(cluster.url())
        assert beat_before is not None

        stopped_at = time.monotonic()
        cluster.stop("fast")  # every connection of the api's and the worker's pools is cut
        time.sleep(DOWN_SECONDS / 2)
        down = readyz(base)
        time.sleep(DOWN_SECONDS / 2)
        cluster.start()
        back_at = time.monotonic()
        back_wall = datetime.now(UTC)

        ready_after, beat_after = recovery(base, cluster.url(), back_at, back_wall)
        wait_until(lambda: any(o[1] == 200 for o in traffic.between(back_at, INF)), 30, 0.05, "a chat answer")
        first_ok = next(o for o in traffic.between(back_at, INF) if o[1] == 200)
        chat_after = first_ok[0] + first_ok[2] - back_at  # when the first answer after the return arrived
        time.sleep(1.0)  # a few more customer messages once everything is back
    finally:
        traffic.stop()
    logs = f"{api.output()}\n{worker.output()}"

    assert down is not None, "the api did not answer /readyz while the database was down"
    assert down.status_code == 503 and down.json()["database"] != "ok", down.text
    during = traffic.between(stopped_at, back_at)
    assert during, "no chat request was made while the database was down"
    # while it is down the api answers (an error), it does not hang the customer
    assert max(o[2] for o in during) < REQUEST_TIMEOUT, during
    # and the error is the one to retry (503 with Retry-After), not a server fault
    assert {o[1] for o in traffic.outcomes} <= {200, 503}, traffic.outcomes
    settled = traffic.between(first_ok[0], INF)
    assert len(settled) >= 3 and all(o[1] == 200 for o in settled), settled
    assert api.alive and worker.alive, logs
    assert worker.proc.pid == worker_pid
    new_beat = latest_beat(cluster.url())
    assert new_beat is not None and new_beat > beat_before

    failed = [o for o in traffic.outcomes if o[1] != 200]
    record_figures(
        "faults/test_postgres_restart",
        api_ready_at_start_s=round(started, 2),
        database_down_s=round(back_at - stopped_at, 2),
        readyz_while_down=down.json(),
        chat_requests=len(traffic.outcomes),
        chat_failed=len(failed),
        chat_failed_statuses=sorted({str(o[1]) for o in failed}),
        chat_latency_while_down_max_s=round(max(o[2] for o in during), 3),
        readyz_200_after_s=round(ready_after, 2),
        chat_ok_after_s=round(chat_after, 2),
        worker_heartbeat_after_s=round(beat_after, 2),
        worker_alive_same_pid=True,
        worker_outage_lines_logged=worker.count("database unreachable") + worker.count("database reachable again"),
        worker_tracebacks_logged=worker.count("Traceback"),
    )
