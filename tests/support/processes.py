"""Real processes for fault and end-to-end tests: gridtalk commands in subprocesses (the api until it is
healthy, one worker tick), a throwaway PostgreSQL cluster, pausing a process (SIGSTOP/SIGCONT), and the
figures a fault test measures (stdout and reports/faults/figures.jsonl).

Everything binds to 127.0.0.1 and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "reports" / "faults" / "figures.jsonl"


def record_figures(test: str, **figures: Any) -> None:
    """Print what a fault test measured and append it as one JSON line to reports/faults/figures.jsonl."""
    line = {"test": test, "at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    print(f"\n[figures] {test}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = "condition") -> float:
    """Seconds until `check()` is true; AssertionError after `timeout` seconds."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def listening_pid(port: int, host: str = "127.0.0.1") -> int:
    """The process listening on host:port (a server this test run started)."""
    for conn in psutil.net_connections(kind="tcp"):
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        if listening and conn.pid and conn.laddr.ip in (host, "0.0.0.0", "::"):
            return int(conn.pid)
    raise LookupError(f"nothing listens on {host}:{port}")


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """The process group of `pid` stopped (SIGSTOP: alive, holding its port, answering nothing) for the block;
    continued (SIGCONT) however the block ends."""
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any GRIDTALK_ setting, plus `settings`, unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(settings, PYTHONUNBUFFERED="1")
    return env


class Service:
    """A `gridtalk <command>` subprocess; its output read by a thread (so no pipe fills up) and kept."""

    def __init__(self, args: Sequence[str], env: dict[str, str], name: str | None = None) -> None:
        self.name = name or " ".join(args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridtalk", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self, last: int = 60) -> str:
        return f"--- {self.name} (last {last} lines) ---\n" + "\n".join(self.lines[-last:])

    def count(self, marker: str) -> int:
        return sum(marker in line for line in list(self.lines))

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; the exit code (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        self._reader.join(5)
        return self.proc.returncode


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian keeps them under /usr/lib/postgresql/<v>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise FileNotFoundError("no PostgreSQL server binaries (pg_ctl, initdb)")
    return Path(pg_ctl).resolve().parent


class PgCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1:`port`, in a fresh directory under the system's temp folder.

    As root, initdb and pg_ctl run as the `postgres` user (the server refuses to run as root), which then owns
    the directory. fsync is off: the data is thrown away, and a restart after a clean stop needs no fsync."""

    def __init__(self, port: int, *, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.bin = postgres_bin()
        self.base = Path(tempfile.mkdtemp(prefix="gridtalk-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout + 30, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                "max_connections = 40\n"
            )

    def pg_ctl(self, action: str, *args: str) -> None:
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(self.timeout)), *args
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("restart", "-m", mode)

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs, and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                    os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def api_process(env: dict[str, str]) -> Iterator[str]:
    """`gridtalk api` with `env` (GRIDTALK_API_PORT set): its base URL once /healthz answers; stopped after."""
    api = Service(["api"], env)
    base = f"http://127.0.0.1:{env['GRIDTALK_API_PORT']}"
    try:
        wait_until(lambda: not api.alive or _healthy(base), 90, 0.3, what="the api answering /healthz")
        assert api.alive, api.output()
        yield base
    finally:
        api.stop()


async def worker_tick(env: dict[str, str], at: datetime | None = None) -> str:
    """One `gridtalk worker --once` (with the clock at `at`, when given); its output. A failure fails the test."""
    moved = ["--at", at.isoformat()] if at is not None else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gridtalk",
        "worker",
        "--once",
        *moved,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    return out.decode()
