"""`gridtalk run`: every process of gridtalk on one machine, supervised, stopped together.

Order: check ports → train the NLU model if nlu/ changed → start Rasa (unless GRIDTALK_RASA_URL points at
one) → while it loads its model: migrate and load the demo data into an empty database (in a short-lived child,
`python -m gridtalk.runner prepare`) → start the app → print the URLs once /readyz answers 200 (database, NLU
model loaded, a fresh worker heartbeat).

The app is one child by default (GRIDTALK_RUN_MODE=embedded: `gridtalk app`, the api, the worker and the bot
when a token is set, in one process and one event loop; gridtalk/embedded.py), or one child each
(GRIDTALK_RUN_MODE=processes: `gridtalk api`, `gridtalk worker`, `gridtalk bot`, as docker-compose runs them).
The supervisor itself imports little: no aiogram, FastAPI or Alembic (the database work runs in its own child).

Supervision: a child that exits is reaped, its exit code or signal logged, and it is started again after a
backoff that doubles with each crash of it within GRIDTALK_SUPERVISOR_CRASH_WINDOW_SECONDS (from
GRIDTALK_SUPERVISOR_BACKOFF_SECONDS up to GRIDTALK_SUPERVISOR_BACKOFF_MAX_SECONDS); at
GRIDTALK_SUPERVISOR_MAX_CRASHES crashes within the window `run` gives up: an ERROR line, every other child
stopped, exit code 1. SIGINT/SIGTERM stop every child (each runs in its own process group, so nothing it
started is left behind). On Linux each child also asks the kernel for SIGTERM when the supervisor dies
(PR_SET_PDEATHSIG), so a supervisor killed with SIGKILL leaves no child behind either. Rasa itself starts no
child processes (checked with Rasa 3.6: one process, threads only).

The api started here gets GRIDTALK_REQUIRE_WORKER=true (unless it is set): its /readyz needs the worker.

Email: without GRIDTALK_SMTP_HOST (and unless GRIDTALK_MAIL_CATCHER=false) `run` also starts a mail catcher (an
SMTP server on 127.0.0.1:GRIDTALK_MAIL_CATCHER_PORT that delivers nothing and keeps the last messages in var/mail:
inside the app when embedded, else `gridtalk mailcatcher`) and points its children's SMTP settings at it, so
notices and the web chat's email codes are sent, and shown on the console's mail page. A real SMTP server
(GRIDTALK_SMTP_HOST) replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from core.config import Settings, load_settings
from core.operations.restarts import RestartPolicy
from nlu.project import NLU_DIR, ROOT, NluError, RasaServer, port_in_use, rasa_env, rasa_executable, train

START_TIMEOUT = 240.0  # seconds until /readyz must first answer 200 (Rasa loads its model in 30-60 s)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class RunError(Exception):
    """Start-up cannot go on; the message says why and what to change."""


class GaveUp(Exception):
    """A child crashed too often: `gridtalk run` stops everything."""


def say(line: str) -> None:
    print(f"[gridtalk] {line}", flush=True)


def print_flush(line: str) -> None:
    print(line, flush=True)


def describe_exit(returncode: int) -> str:
    """ "exited with code 3", "was killed by signal SIGKILL"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"was killed by signal {name}"
    return f"exited with code {returncode}"


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # looked up in the parent: nothing is loaded between fork and exec


def _die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when the supervisor dies, even by SIGKILL (Linux). The death signal
    belongs to the thread that forks: children are only ever started from the supervisor's main thread."""
    parent = os.getpid()

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def start_child(
    cmd: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """One child: its own process group (the terminal's Ctrl-C reaches only the supervisor, which stops the
    groups), SIGTERM when the supervisor dies, output to ours or to `log`."""
    out = open(log, "ab") if log else None  # noqa: SIM115 - Popen keeps its own copy of the descriptor
    try:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # the supervisor is single-threaded
        )
    finally:
        if out is not None:
            out.close()


@dataclass
class Child:
    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[float] = field(default_factory=list)  # monotonic times of its recent exits
    restart_at: float | None = None  # set while it waits for its backoff


@dataclass
class Supervisor:
    policy: RestartPolicy
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False

    def add(self, name: str, launch: Callable[[], subprocess.Popen[bytes]]) -> None:
        child = Child(name, launch)
        self.children[name] = child
        child.proc = launch()

    def spawn(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.add(name, lambda: start_child([sys.executable, "-m", "gridtalk", *args], env=env))

    def check(self, now: float | None = None) -> list[str]:
        """Reap children that exited and schedule their restart; start those whose backoff is over (their
        names are returned). Raises GaveUp when one crashed too often."""
        now = time.monotonic() if now is None else now
        restarted: list[str] = []
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.proc = child.launch()
                    say(f"restarted the {child.name} process (pid {child.proc.pid})")
                    restarted.append(child.name)
                continue
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                continue
            child.crashes = [*self.policy.recent(child.crashes, now), now]
            crashes = len(child.crashes)
            why = f"the {child.name} process {describe_exit(code)}"
            window = f"{self.policy.window:g} s"
            if self.policy.gives_up(crashes):
                raise GaveUp(f"{why}: {crashes} crashes within {window}; giving up and stopping everything")
            delay = self.policy.delay(crashes)
            say(f"{why}; restarting it in {delay:.1f} s (crash {crashes} of {self.policy.max_crashes} within {window})")
            child.restart_at = now + delay
        return restarted

    def stop(self, grace: float = 10.0) -> None:
        self.stopping = True
        running = [c.proc for c in self.children.values() if c.proc is not None and c.restart_at is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM is handled like Ctrl-C: unwind and stop every child."""
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # Set SIGINT explicitly too: a process started in the background by a shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _check_ports(settings: Settings) -> None:
    if catches_mail(settings) and port_in_use("127.0.0.1", settings.mail_catcher_port):
        raise RunError(
            f"port {settings.mail_catcher_port} is already in use; set GRIDTALK_MAIL_CATCHER_PORT to another port"
            " (or GRIDTALK_SMTP_HOST to a real SMTP server)"
        )
    if port_in_use(settings.api_host, settings.api_port):
        raise RunError(f"port {settings.api_port} is already in use; set GRIDTALK_API_PORT to another port")
    if settings.rasa_url is None and port_in_use("127.0.0.1", settings.rasa_port):
        raise RunError(f"port {settings.rasa_port} is already in use; set GRIDTALK_RASA_PORT to another port")


PREPARE_TIMEOUT = 600.0  # seconds the migration and the demo data may take (a first run on a slow disk)


def _prepare_in_child() -> None:
    """Migrate and load the demo data in a child, so that the supervisor never imports Alembic, the models'
    services or the demo; its lines go to our output. Raises RunError when it fails."""
    proc = start_child([sys.executable, "-m", "gridtalk.runner", "prepare"])
    try:
        code = proc.wait(PREPARE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RunError(f"the database was not ready within {PREPARE_TIMEOUT:.0f} s") from None
    finally:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    if code != 0:
        raise RunError(f"preparing the database failed: the child {describe_exit(code)} (its error is above)")


def _prepare_database(settings: Settings) -> None:
    from core.db.migrate import upgrade
    from gridtalk.tasks import database_is_empty, load_demo_data

    say("migrating the database (alembic upgrade head)")
    upgrade(settings.database_url)
    if asyncio.run(database_is_empty(settings)):
        say("empty database: loading the demo data")
        summary = asyncio.run(load_demo_data(settings))
        say(f"demo data loaded: {summary}")


def _rasa_launcher(settings: Settings, model: Path, log: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """How Rasa is started (and started again): the command of nlu.project.RasaServer, supervised."""
    cmd = [str(rasa_executable(settings.rasa_venv)), "run", "--enable-api", "-i", "127.0.0.1"]
    cmd += ["-p", str(settings.rasa_port), "-m", str(model)]
    return lambda: start_child(cmd, cwd=NLU_DIR, env=rasa_env(), log=log)


@dataclass
class RasaProbe:
    """Whether the Rasa child has loaded its model, asked without blocking the supervisor for long; once it
    has, one parse warms it up (jieba loads its dictionary) before it counts as loaded."""

    url: str
    since: float = field(default_factory=time.monotonic)
    last_report: float = field(default_factory=time.monotonic)
    loaded: bool = False

    def restarted(self) -> None:
        self.since = self.last_report = time.monotonic()
        self.loaded = False

    def poll(self) -> float | None:
        """Seconds it took to load, the first time it is found loaded; else None."""
        if self.loaded:
            return None
        try:
            status = httpx.get(f"{self.url}/status", timeout=1.0)
            if status.status_code == 200 and status.json().get("model_file"):
                httpx.post(f"{self.url}/model/parse", json={"text": "你好"}, timeout=60.0).raise_for_status()
                self.loaded = True
                return time.monotonic() - self.since
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() - self.last_report >= 10:
            print_flush(f"[nlu] Rasa is loading the model… {time.monotonic() - self.since:.0f} s")
            self.last_report = time.monotonic()
        return None


def _readyz(settings: Settings) -> tuple[int, str]:
    try:
        response = httpx.get(f"http://127.0.0.1:{settings.api_port}/readyz", timeout=2.0)
    except httpx.HTTPError as exc:
        return 0, type(exc).__name__
    return response.status_code, response.text


def catches_mail(settings: Settings) -> bool:
    """Whether `run` starts the mail catcher: no SMTP server is configured and the catcher is not turned off."""
    return settings.mail_catcher and not settings.smtp_host


def mail_folder(settings: Settings) -> Path:
    """Where the mail catcher keeps its messages: GRIDTALK_MAIL_CATCHER_DIR, else var/mail (absolute)."""
    folder = settings.mail_catcher_dir or Path("var") / "mail"
    return folder if folder.is_absolute() else ROOT / folder


def gridtalk_children(settings: Settings) -> list[str]:
    """The gridtalk commands `run` starts as children, in order (Rasa, when started, comes first): embedded,
    the one `app` (which serves the mail catcher too); else one process each."""
    if settings.run_mode == "embedded":
        return ["app"]
    names = ["mailcatcher"] if catches_mail(settings) else []
    names += ["api", "worker"]
    if settings.telegram_token is not None:
        names.append("bot")
    return names


def child_args(name: str, settings: Settings) -> list[str]:
    """The command line (after `python -m gridtalk`) of the child `name`."""
    if name == "app" and catches_mail(settings):
        return ["app", "--mail-catcher", str(mail_folder(settings))]
    return [name]


def child_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the gridtalk children: ours, readiness requires the worker unless told otherwise, and
    with the mail catcher their SMTP server is the catcher (and the console shows what it caught)."""
    env = dict(os.environ if environ is None else environ)
    if "require_worker" not in settings.model_fields_set:
        env["GRIDTALK_REQUIRE_WORKER"] = "true"
    if catches_mail(settings):
        for name in ("GRIDTALK_SMTP_USERNAME", "GRIDTALK_SMTP_PASSWORD"):
            env.pop(name, None)
        env.update(
            GRIDTALK_SMTP_HOST="127.0.0.1",
            GRIDTALK_SMTP_PORT=str(settings.mail_catcher_port),
            GRIDTALK_SMTP_SECURITY="none",
            GRIDTALK_MAIL_CATCHER_DIR=str(mail_folder(settings)),
        )
    return env


def run_all(settings: Settings) -> int:
    _check_ports(settings)
    sup = Supervisor(RestartPolicy.from_settings(settings))

    _stop_on_signals()
    try:
        rasa: RasaProbe | None = None
        if settings.rasa_url is None:
            model, _ = train(settings.rasa_model_dir, settings.rasa_venv, progress=print_flush)
            log = ROOT / "var" / "log" / "rasa.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            say(f"starting Rasa on 127.0.0.1:{settings.rasa_port} (log: {log.relative_to(ROOT)})")
            sup.add("rasa", _rasa_launcher(settings, model, log))
            rasa = RasaProbe(f"http://127.0.0.1:{settings.rasa_port}")
        _prepare_in_child()
        env = child_env(settings)
        names = gridtalk_children(settings)
        if catches_mail(settings):
            say(
                f"GRIDTALK_SMTP_HOST is not set: starting a mail catcher on 127.0.0.1:{settings.mail_catcher_port}"
                f" (email is kept in {mail_folder(settings)}, shown at /console/mail)"
            )
        elif not settings.smtp_host:
            say("GRIDTALK_SMTP_HOST is not set and GRIDTALK_MAIL_CATCHER=false: no email is sent")
        embedded = settings.run_mode == "embedded"
        say("starting api and worker" + (" in one process (GRIDTALK_RUN_MODE=embedded)" if embedded else ""))
        if settings.telegram_token is not None:
            say("starting the Telegram bot" + (" in the same process" if embedded else ""))
        else:
            say("GRIDTALK_TELEGRAM_TOKEN is not set: the Telegram bot is not started")
        for name in names:
            sup.spawn(name, *child_args(name, settings), env=env)
        started, ready = time.monotonic(), False
        while True:
            if "rasa" in sup.check() and rasa is not None:
                rasa.restarted()
            if rasa is not None and (loaded_in := rasa.poll()) is not None:
                say(f"Rasa loaded its model in {loaded_in:.1f} s")
            if not ready:
                status, body = _readyz(settings)
                if status == 200 and (rasa is None or rasa.loaded):
                    _print_ready(settings)
                    ready = True
                elif time.monotonic() - started > START_TIMEOUT:
                    raise RunError(f"not ready within {START_TIMEOUT:.0f} s; /readyz: {status} {body}")
            time.sleep(0.5)
    except GaveUp as exc:
        print(f"[gridtalk] ERROR: {exc}", file=sys.stderr, flush=True)
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
    mail = (
        f"  email      {base}/console/mail  (the mail catcher: what gridtalk sent)\n" if catches_mail(settings) else ""
    )
    say("ready")
    print(
        f"  web chat   {base}/chat  (English: {base}/chat?lang=en)\n"
        f"  console    {base}/console  (demo staff: admin, agent.li, supervisor.zhou, manager.wang;"
        " password gridtalk-demo)\n"
        f"  outages    {base}/outages  (public: no sign-in)\n"
        f"  API docs   {base}/docs\n"
        f"  health     {base}/readyz\n"
        f"  metrics    {base}/metrics\n"
        f"{mail}"
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


if __name__ == "__main__":  # `python -m gridtalk.runner prepare`: the database step of `gridtalk run`
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m gridtalk.runner prepare")
    from core.logs import configure_logging, install_masking

    install_masking()
    cfg = load_settings()
    configure_logging(cfg.log_level)
    _prepare_database(cfg)
