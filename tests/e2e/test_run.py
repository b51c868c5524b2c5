"""`gridtalk run` as a person starts it: real processes, a real Rasa; Ctrl-C leaves nothing behind, a child
that dies is restarted (and /readyz recovers), one that keeps crashing makes `run` give up, and a supervisor
killed with SIGKILL takes its children with it. By default (GRIDTALK_RUN_MODE=embedded) the api, the worker, the
bot and the mail catcher share one child, `gridtalk app`; the tests about one process each set
GRIDTALK_RUN_MODE=processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from aiohttp import web

from nlu.project import free_port
from tests.fakes.telegram_api import Call, FakeTelegramApi
from tests.support.notices import TOKEN
from tests.support.telegram import update

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Run:
    """`gridtalk run` in a subprocess; its output (and its children's) read by a thread, so no pipe fills up."""

    def __init__(self, env: dict[str, str], *, ignore_sigint: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridtalk", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Started with SIGINT ignored, as a shell starts a background job: Ctrl-C handling must not rely
            # on the disposition it inherits.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
        )
        self.lines: list[str] = []
        self.base = f"http://127.0.0.1:{env['GRIDTALK_API_PORT']}"
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, marker: str, timeout: float, *, after: int = 0) -> int:
        """Wait for a line containing `marker` (from line `after` on); its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if marker in self.lines[index]:
                    return index
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        pytest.fail(f"no {marker!r} within {timeout} s; output:\n{self.output}")

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"`gridtalk run` did not exit within {timeout} s; output:\n{self.output}")
        self._reader.join(10)
        return code

    def child(self, *words: str) -> psutil.Process:
        for proc in descendants(self.proc.pid):
            cmdline = proc.cmdline()
            if all(any(word in part for part in cmdline) for word in words):
                return proc
        pytest.fail(f"no child with {words} in its command line")

    def readyz(self) -> httpx.Response:
        return httpx.get(f"{self.base}/readyz", timeout=10)

    def wait_ready(self, timeout: float) -> float:
        """Seconds until /readyz answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.readyz().status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"/readyz not 200 within {timeout} s; output:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def left_behind(processes: list[psutil.Process], timeout: float = 15.0) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return [p.cmdline() for p in alive]
        time.sleep(0.2)


@pytest.fixture
def run_env(tmp_path: Path, rasa_url: str) -> dict[str, str]:
    """A fresh SQLite file and free ports; `rasa_url` only makes sure the model is there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(
        GRIDTALK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_RASA_PORT=str(free_port()),
        GRIDTALK_WORKER_METRICS_PORT="0",
        GRIDTALK_MAIL_CATCHER_PORT=str(free_port()),
        GRIDTALK_MAIL_CATCHER_DIR=str(tmp_path / "mail"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def run(run_env: dict[str, str]) -> Iterator[list[Run]]:
    """Runs a test started; whatever is still running at its end is stopped."""
    runs: list[Run] = []
    yield runs
    for started in runs:
        children = descendants(started.proc.pid) if started.proc.poll() is None else []
        started.stop()
        for child in children:
            if child.is_running():
                child.kill()


def test_run_starts_everything_and_ctrl_c_stops_everything(run_env: dict[str, str], run: list[Run]) -> None:
    gridtalk = Run(run_env, ignore_sigint=True)
    run.append(gridtalk)
    gridtalk.wait_for("[gridtalk] ready", timeout=300)
    assert "loading the demo data" in gridtalk.output
    ready = gridtalk.readyz()
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"database": "ok", "nlu": "ok", "worker": "ok"}
    created = httpx.post(f"{gridtalk.base}/api/v1/chat/sessions", json={"language": "zh"}, timeout=10)
    assert created.status_code == 201
    assert created.json()["session_id"]
    children = descendants(gridtalk.proc.pid)
    commands = [c.cmdline() for c in children]
    apps = [cmd for cmd in commands if cmd[1:4] == ["-m", "gridtalk", "app"]]
    assert len(apps) == 1 and "--mail-catcher" in apps[0], commands  # embedded: one child for all of it
    assert len(children) == 2 and any(".venv-rasa" in " ".join(cmd) for cmd in commands), commands
    assert "starting api and worker in one process (GRIDTALK_RUN_MODE=embedded)" in gridtalk.output
    # no GRIDTALK_SMTP_HOST: the worker's email (the demo's near outage, to a key account's contacts) is caught
    caught = Path(run_env["GRIDTALK_MAIL_CATCHER_DIR"])
    deadline = time.monotonic() + 30
    while not list(caught.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(caught.glob("*.eml")), f"no email caught; output:\n{gridtalk.output}"
    assert "/console/mail" in gridtalk.output

    gridtalk.proc.send_signal(signal.SIGINT)
    assert gridtalk.wait_exit(60) == 0, gridtalk.output
    assert "[gridtalk] stopped" in gridtalk.output
    assert left_behind(children, timeout=2) == []


def test_a_killed_worker_is_restarted_and_readyz_recovers(
    run_env: dict[str, str], rasa_url: str, run: list[Run]
) -> None:
    # An external Rasa (no model to load): the worker is the child under test. Its heartbeat goes stale
    # after 3 s and the restart waits 5 s, so /readyz is seen to fail and then to recover by itself.
    run_env.update(
        GRIDTALK_RASA_URL=rasa_url,
        GRIDTALK_WORKER_STALE_SECONDS="3",
        GRIDTALK_SUPERVISOR_BACKOFF_SECONDS="5",
        GRIDTALK_RUN_MODE="processes",
    )
    gridtalk = Run(run_env)
    run.append(gridtalk)
    gridtalk.wait_for("[gridtalk] ready", timeout=120)
    assert gridtalk.readyz().json() == {"database": "ok", "nlu": "ok", "worker": "ok"}

    worker = gridtalk.child("gridtalk", "worker")
    killed_at = time.monotonic()
    worker.kill()
    said = gridtalk.wait_for(
        "the worker process was killed by signal SIGKILL; restarting it in 5.0 s (crash 1 of 5 within 300 s)", 10
    )
    stale = None
    while time.monotonic() - killed_at < 15 and stale is None:
        response = gridtalk.readyz()
        if response.status_code == 503:
            stale = response
        time.sleep(0.2)
    assert stale is not None and stale.json() == {"database": "ok", "nlu": "ok", "worker": "stale"}
    gridtalk.wait_for("restarted the worker process", 15, after=said)
    recovered_in = time.monotonic() - killed_at + gridtalk.wait_ready(30)
    print(f"worker killed → /readyz 200 again in {recovered_in:.1f} s (backoff 5 s)")
    assert gridtalk.readyz().json()["worker"] == "ok"
    assert not worker.is_running()  # reaped, not left a zombie
    new_worker = gridtalk.child("gridtalk", "worker")
    assert new_worker.pid != worker.pid

    gridtalk.proc.send_signal(signal.SIGTERM)
    assert gridtalk.wait_exit(60) == 0, gridtalk.output


def test_a_child_that_keeps_crashing_makes_run_give_up(
    run_env: dict[str, str], rasa_url: str, tmp_path: Path, run: list[Run]
) -> None:
    # The worker fails at once every time it starts (a sitecustomize that only the worker's command trips).
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os\n"
        "if open('/proc/self/cmdline', 'rb').read().split(b'\\0')[1:4] == [b'-m', b'gridtalk', b'worker']:\n"
        "    os.write(2, b'worker: failing at start (test)\\n')\n"
        "    os._exit(3)\n"
    )
    run_env.update(
        PYTHONPATH=str(hook),
        GRIDTALK_RASA_URL=rasa_url,
        GRIDTALK_SUPERVISOR_BACKOFF_SECONDS="0.2",
        GRIDTALK_SUPERVISOR_MAX_CRASHES="3",
        GRIDTALK_RUN_MODE="processes",
    )
    started = time.monotonic()
    gridtalk = Run(run_env)
    run.append(gridtalk)
    code = gridtalk.wait_exit(120)
    print(f"gave up after {time.monotonic() - started:.1f} s")
    out = gridtalk.output
    assert code == 1, out
    assert "the worker process exited with code 3; restarting it in 0.2 s (crash 1 of 3 within 300 s)" in out
    assert "restarting it in 0.4 s (crash 2 of 3" in out
    assert (
        "[gridtalk] ERROR: the worker process exited with code 3: 3 crashes within 300 s; giving up and stopping"
        " everything" in out
    )
    assert "[gridtalk] stopped" in out
    assert "[gridtalk] ready" not in out


def test_a_killed_rasa_is_restarted_and_a_killed_supervisor_leaves_no_child(
    run_env: dict[str, str], run: list[Run]
) -> None:
    run_env["GRIDTALK_RUN_MODE"] = "processes"
    gridtalk = Run(run_env)
    run.append(gridtalk)
    gridtalk.wait_for("[gridtalk] ready", timeout=300)
    rasa = gridtalk.child(".venv-rasa", "run")
    assert rasa.children(recursive=True) == []  # Rasa starts no process of its own

    killed_at = time.monotonic()
    rasa.kill()
    said = gridtalk.wait_for("the rasa process was killed by signal SIGKILL; restarting it in 1.0 s", 10)
    gridtalk.wait_for("restarted the rasa process", 10, after=said)
    assert gridtalk.readyz().status_code == 503  # loading its model again
    gridtalk.wait_for("Rasa loaded its model in", 240, after=said)
    recovered_in = time.monotonic() - killed_at + gridtalk.wait_ready(30)
    print(f"Rasa killed → /readyz 200 again in {recovered_in:.1f} s")
    assert gridtalk.readyz().json() == {"database": "ok", "nlu": "ok", "worker": "ok"}

    children = descendants(gridtalk.proc.pid)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "rasa" in names and " api" in names and " worker" in names
    gridtalk.proc.kill()  # SIGKILL: no handler runs, the kernel's parent-death signal ends the children
    assert gridtalk.wait_exit(10) == -signal.SIGKILL
    assert left_behind(children) == []


def test_a_killed_app_is_restarted_and_readyz_recovers(run_env: dict[str, str], rasa_url: str, run: list[Run]) -> None:
    # Embedded: the api, the worker and the catcher are one process; killing it takes them all, and the supervisor
    # starts it again after its backoff, as it would any child.
    run_env.update(GRIDTALK_RASA_URL=rasa_url, GRIDTALK_SUPERVISOR_BACKOFF_SECONDS="2")
    gridtalk = Run(run_env)
    run.append(gridtalk)
    gridtalk.wait_for("[gridtalk] ready", timeout=120)
    app = gridtalk.child("gridtalk", "app")
    killed_at = time.monotonic()
    app.kill()
    said = gridtalk.wait_for("the app process was killed by signal SIGKILL; restarting it in 2.0 s (crash 1 of 5", 10)
    gridtalk.wait_for("restarted the app process", 15, after=said)
    recovered_in = time.monotonic() - killed_at + gridtalk.wait_ready(60)
    print(f"app killed → /readyz 200 again in {recovered_in:.1f} s (backoff 2 s)")
    assert gridtalk.readyz().json() == {"database": "ok", "nlu": "ok", "worker": "ok"}
    assert not app.is_running()
    assert gridtalk.child("gridtalk", "app").pid != app.pid

    gridtalk.proc.send_signal(signal.SIGTERM)
    assert gridtalk.wait_exit(60) == 0, gridtalk.output
    assert "[gridtalk] stopped" in gridtalk.output


class PollingBotApi(FakeTelegramApi):
    """The fake Bot API answering long polling too: getUpdates hands out the queued updates."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, object]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "getUpdates":
            return await super()._handle(request)
        offset = int((await self._params(request)).get("offset") or 0)
        for _ in range(10):
            pending = [u for u in self.updates if int(str(u["update_id"])) >= offset]
            if pending:
                return web.json_response({"ok": True, "result": pending})
            await asyncio.sleep(0.1)
        return web.json_response({"ok": True, "result": []})


async def test_embedded_with_a_token_the_bot_polls_and_answers_from_the_app_process(
    run_env: dict[str, str], rasa_url: str, run: list[Run]
) -> None:
    async with PollingBotApi() as bot_api:
        run_env.update(
            GRIDTALK_RASA_URL=rasa_url, GRIDTALK_TELEGRAM_TOKEN=TOKEN, GRIDTALK_TELEGRAM_API_BASE=bot_api.base_url
        )
        gridtalk = Run(run_env)
        run.append(gridtalk)
        await asyncio.to_thread(gridtalk.wait_for, "[gridtalk] ready", 120)
        assert "starting the Telegram bot in the same process" in gridtalk.output
        commands = [c.cmdline() for c in descendants(gridtalk.proc.pid)]
        assert [cmd[3] for cmd in commands if cmd[1:3] == ["-m", "gridtalk"]] == ["app"], commands

        answered = asyncio.Event()

        async def seen(call: Call) -> None:
            if call.chat_id == 424242:
                answered.set()

        bot_api.on_call("sendMessage", seen)
        bot_api.updates.append(update(1, 424242, text="你好"))
        try:
            await asyncio.wait_for(answered.wait(), 60)
        except TimeoutError:
            pytest.fail(f"the bot did not answer; output:\n{gridtalk.output}")

        gridtalk.proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(gridtalk.wait_exit, 60) == 0, gridtalk.output


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
