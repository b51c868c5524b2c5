"""`gridtalk run` as a person starts it: real processes, a real Rasa, then Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from nlu.project import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if marker in line:
            return lines
    pytest.fail(f"no {marker!r} within {timeout} s; output:\n" + "\n".join(lines))


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


@pytest.fixture
def run_env(tmp_path: Path, rasa_url: str) -> dict[str, str]:
    """A fresh SQLite file and free ports; `rasa_url` only makes sure the model is there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(
        GRIDTALK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_RASA_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


def test_run_starts_everything_and_ctrl_c_stops_everything(run_env: dict[str, str]) -> None:
    # Started with SIGINT ignored, as a shell starts a background job: Ctrl-C handling must not rely on
    # the disposition it inherits.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridtalk", "run"],
        cwd=ROOT,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        lines = read_until(proc, "[gridtalk] ready", timeout=300)
        assert any("loading the demo data" in line for line in lines)
        base = f"http://127.0.0.1:{run_env['GRIDTALK_API_PORT']}"
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"database": "ok", "nlu": "ok"}
        created = httpx.post(f"{base}/api/v1/chat/sessions", json={"language": "zh"}, timeout=10)
        assert created.status_code == 201
        assert created.json()["session_id"]
        children = descendants(proc.pid)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "rasa" in names and " api" in names and " worker" in names
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
    assert "[gridtalk] stopped" in out
    time.sleep(0.5)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left behind: {[c.cmdline() for c in alive]}"


def test_port_in_use_names_the_port_and_the_setting(run_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(run_env["GRIDTALK_API_PORT"])))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "-m", "gridtalk", "run"],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    port = run_env["GRIDTALK_API_PORT"]
    assert f"port {port} is already in use; set GRIDTALK_API_PORT to another port" in result.stderr
