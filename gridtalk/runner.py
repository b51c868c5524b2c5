"""`gridtalk run`: every process of gridtalk on one machine, supervised, stopped together.

Order: check ports → migrate → demo data into an empty database → train the NLU model if nlu/ changed →
start Rasa (unless GRIDTALK_RASA_URL points at one), api, worker, and the bot when a token is set →
print the URLs once the api answers and Rasa has loaded. SIGINT/SIGTERM stop every child (each runs in
its own process group, so nothing it started is left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

import httpx

from core.config import Settings
from core.db.migrate import upgrade
from nlu.project import ROOT, NluError, RasaServer, port_in_use, train


class RunError(Exception):
    """Start-up cannot go on; the message says why and what to change."""


def say(line: str) -> None:
    print(f"[gridtalk] {line}", flush=True)


def print_flush(line: str) -> None:
    print(line, flush=True)


@dataclass
class Supervisor:
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    rasa: RasaServer | None = None
    stopping: bool = False

    def spawn(self, name: str, *args: str) -> None:
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "gridtalk", *args], cwd=ROOT, start_new_session=True
        )

    def stop(self, grace: float = 10.0) -> None:
        self.stopping = True
        for proc in self.children.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        if self.rasa is not None:
            self.rasa.stop(grace)

    def exited(self) -> str | None:
        return next((name for name, proc in self.children.items() if proc.poll() is not None), None)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM is handled like Ctrl-C: unwind and stop every child."""
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # Set SIGINT explicitly too: a process started in the background by a shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _check_ports(settings: Settings) -> None:
    if port_in_use(settings.api_host, settings.api_port):
        raise RunError(f"port {settings.api_port} is already in use; set GRIDTALK_API_PORT to another port")
    if settings.rasa_url is None and port_in_use("127.0.0.1", settings.rasa_port):
        raise RunError(f"port {settings.rasa_port} is already in use; set GRIDTALK_RASA_PORT to another port")


def _prepare_database(settings: Settings) -> None:
    from gridtalk.tasks import database_is_empty, load_demo_data

    say("migrating the database (alembic upgrade head)")
    upgrade(settings.database_url)
    if asyncio.run(database_is_empty(settings)):
        say("empty database: loading the demo data")
        summary = asyncio.run(load_demo_data(settings))
        say(f"demo data loaded: {summary}")


def _wait_http(url: str, timeout: float, sup: Supervisor) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (name := sup.exited()) is not None:
            raise RunError(f"the {name} process exited during start-up (see its output above)")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RunError(f"{url} did not answer within {timeout:.0f} s")


def run_all(settings: Settings) -> int:
    _check_ports(settings)
    _prepare_database(settings)
    sup = Supervisor()

    _stop_on_signals()
    try:
        env_rasa = settings.rasa_url
        if env_rasa is None:
            model, _ = train(settings.rasa_model_dir, settings.rasa_venv, progress=print_flush)
            log = ROOT / "var" / "log" / "rasa.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            sup.rasa = RasaServer(model, settings.rasa_port, settings.rasa_venv, log_path=log)
            say(f"starting Rasa on 127.0.0.1:{settings.rasa_port} (log: {log.relative_to(ROOT)})")
            sup.rasa.start()
        say("starting api and worker")
        sup.spawn("api", "api")
        sup.spawn("worker", "worker")
        if settings.telegram_token is not None:
            say("starting the Telegram bot")
            sup.spawn("bot", "bot")
        else:
            say("GRIDTALK_TELEGRAM_TOKEN is not set: the Telegram bot is not started")
        _wait_http(f"http://127.0.0.1:{settings.api_port}/healthz", 60, sup)
        if sup.rasa is not None:
            loaded_in = sup.rasa.wait_ready(progress=print_flush)
            say(f"Rasa loaded its model in {loaded_in:.1f} s")
        _print_ready(settings)
        while (name := sup.exited()) is None:
            time.sleep(0.5)
        say(f"the {name} process exited; stopping everything")
        return 1
    except KeyboardInterrupt:
        say("stopping…")
        return 0
    except NluError as exc:
        raise RunError(str(exc)) from None
    finally:
        sup.stop()
        say("stopped")


def _print_ready(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.api_port}"
    say("ready")
    print(
        f"  web chat   {base}/chat  (English: {base}/chat?lang=en)\n"
        f"  console    {base}/console  (demo staff: admin, agent.li, supervisor.zhou, manager.wang;"
        " password gridtalk-demo)\n"
        f"  API docs   {base}/docs\n"
        f"  health     {base}/readyz\n"
        f"  metrics    {base}/metrics\n"
        f"  NLU        {settings.rasa_url or f'http://127.0.0.1:{settings.rasa_port}'}\n"
        f"  accounts   .venv/bin/gridtalk demo accounts\n"
        "  Ctrl-C stops everything.",
        flush=True,
    )


def serve_rasa_forever(settings: Settings, port: int) -> int:
    """`gridtalk nlu serve`: the current model on 127.0.0.1:port until interrupted."""
    from nlu.project import current_model, latest_model

    if port_in_use("127.0.0.1", port):
        raise RunError(f"port {port} is already in use; set GRIDTALK_RASA_PORT (or --port) to another port")
    model = current_model(settings.rasa_model_dir) or latest_model(settings.rasa_model_dir)
    if model is None:
        print("gridtalk: no trained NLU model: run `gridtalk nlu train` first", file=sys.stderr)
        return 2
    server = RasaServer(model, port, settings.rasa_venv)
    _stop_on_signals()
    server.start()
    try:
        loaded_in = server.wait_ready()
        print(f"[nlu] ready at {server.url} ({model.name}, loaded in {loaded_in:.1f} s)", flush=True)
        assert server.proc is not None
        return server.proc.wait()
    except KeyboardInterrupt:
        return 0
    except NluError as exc:
        print(f"gridtalk: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
