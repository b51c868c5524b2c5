"""Memory and start-up of `gridtalk run`: RSS of each process under a chat load, and the time to ready.

What it does, for each run mode (GRIDTALK_RUN_MODE=embedded, the default: api, worker and bot in one child;
and processes: one child each): a temp SQLite database, migrated and loaded with the demo data beforehand (so the
start is warm, as a second `make run` is), a bot token with the fake Bot API on loopback (tests/fakes: long
polling answered, a Telegram customer writing now and then), then `gridtalk run` (which starts Rasa itself) →
time to /readyz 200 → a chat load through the web chat (concurrent customers, each a session and questions)
while the RSS of every process is sampled (psutil) → Ctrl-C (SIGINT) and the time to stop.

It prints, per mode: api + worker + bot together (the peak of their sum; embedded: the one app process), the
mail catcher, the `run` supervisor and Rasa each on its own line; start-up: time to /readyz 200, Rasa's own
load (`run` reports how long Rasa took to answer its first parse), their difference, and the app's own start
(from its spawn to /readyz answering database and worker ok). Also what the supervisor imports.
Writes reports/bench/memory.json.

Goals: api + worker + bot ≤ 250 MB under the chat load with a bot token set (embedded default); warm start to
ready ≤ 15 s beyond Rasa's own load time; the supervisor imports no aiogram, FastAPI or Alembic.

Run: `.venv/bin/python bench/memory.py` (both modes, a real Rasa each: ≈ 4 min) or `--quick` (a fake NLU server
instead of Rasa, 6 s of load, the embedded mode only: < 1 min); `--modes embedded` for one mode; `--seconds 20`
for the load.
Everything binds to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.project import current_model, free_port  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402
from tests.support.telegram import update as telegram_update  # noqa: E402

TOKEN = "123456:BENCH-memory-token"
QUESTIONS = [
    "你好",
    "我家上个月电费多少",
    "现在停电了吗",
    "下个月有检修停电吗",
    "峰谷电谷时段几点开始",
    "what's my balance",
    "is there a power cut now",
    "明天下雨吗",
]
GOAL_MB = 250.0
GOAL_BEYOND_RASA_S = 15.0


class PollingBotApi(FakeTelegramApi):
    """The fake Bot API, also answering long polling: getUpdates returns the queued updates (or nothing after a
    short wait), so the bot polls as it would against Telegram."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "getUpdates":
            return await super()._handle(request)
        params = await self._params(request)
        offset = int(params.get("offset") or 0)
        for _ in range(10):
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending:
                return web.json_response({"ok": True, "result": pending[:20]})
            await asyncio.sleep(0.1)
        return web.json_response({"ok": True, "result": []})


async def fake_rasa(port: int) -> web.AppRunner:
    """A stand-in NLU server for --quick: a model is loaded, and every text is a greeting."""

    async def status(_request: web.Request) -> web.Response:
        return web.json_response({"model_file": "quick.tar.gz"})

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        intent = {"name": "greet", "confidence": 0.99}
        return web.json_response(
            {"text": body.get("text", ""), "intent": intent, "entities": [], "intent_ranking": [intent]}
        )

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_post("/model/parse", parse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


class Background:
    """An event loop in a thread for the fake servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Run:
    """`gridtalk run` in a subprocess; its output lines kept with the second they came."""

    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridtalk", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic() - self.started, line.rstrip()))

    def first(self, pattern: str) -> tuple[float, re.Match[str]] | None:
        for at, line in list(self.lines):
            if found := re.search(pattern, line):
                return at, found
        return None

    def tail(self, n: int = 40) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


def classify(proc: psutil.Process) -> str | None:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return None
    text = " ".join(cmd)
    if ".venv-rasa" in text:
        return "rasa"
    if "-m" in cmd and "gridtalk" in cmd:
        after = cmd[cmd.index("gridtalk") + 1 :]
        return after[0] if after else None
    if "gridtalk.runner" in text:
        return "prepare"
    return None


def rss_by_role(run: Run) -> dict[str, float]:
    """MB of resident memory per role: supervisor, rasa, app | api, worker, bot, mailcatcher."""
    out: dict[str, float] = {}
    try:
        root = psutil.Process(run.proc.pid)
        out["supervisor"] = root.memory_info().rss / 2**20
        children = root.children(recursive=True)
    except psutil.Error:
        return out
    for child in children:
        role = classify(child)
        if role is None:
            continue
        with suppress(psutil.Error):
            out[role] = out.get(role, 0.0) + child.memory_info().rss / 2**20
    return out


def app_total(sample: dict[str, float]) -> float:
    return sum(sample.get(role, 0.0) for role in ("app", "api", "worker", "bot"))


async def chat_load(base: str, seconds: float, concurrency: int, bot_api: PollingBotApi, stop: float) -> dict[str, Any]:
    """Customers on the web chat (a session each, then questions), and a Telegram customer writing every 0.5 s."""
    turns, latencies = 0, []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def customer(index: int) -> None:
        nonlocal turns
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                created = await client.post("/api/v1/chat/sessions", json={"language": "zh" if index % 2 else "en"})
                if created.status_code != 201:
                    errors[str(created.status_code)] = errors.get(str(created.status_code), 0) + 1
                    await asyncio.sleep(0.2)
                    continue
                session = created.json()["session_id"]
                for text in QUESTIONS[index % 3 :][:4]:
                    if time.monotonic() >= deadline:
                        break
                    began = time.perf_counter()
                    answered = await client.post(f"/api/v1/chat/sessions/{session}/messages", json={"text": text})
                    latencies.append(time.perf_counter() - began)
                    turns += 1
                    if answered.status_code != 200:
                        errors[str(answered.status_code)] = errors.get(str(answered.status_code), 0) + 1

    async def telegram() -> None:
        update_id = 1
        while time.monotonic() < deadline:
            text = QUESTIONS[update_id % len(QUESTIONS)]
            bot_api.updates.append(telegram_update(update_id, 700_000 + update_id % 5, text=text))
            update_id += 1
            await asyncio.sleep(0.5)

    began = time.monotonic()
    await asyncio.gather(telegram(), *(customer(i) for i in range(concurrency)))
    took = time.monotonic() - began
    latencies.sort()
    return {
        "seconds": round(took, 1),
        "turns": turns,
        "turns_per_s": round(turns / took, 1),
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "telegram_updates": len(bot_api.updates),
    }


@contextmanager
def sampling(run: Run, every: float = 0.5) -> Iterator[list[dict[str, float]]]:
    samples: list[dict[str, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_by_role(run))
            done.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(5)


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/readyz", timeout=2)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return 0, {}


def measure_mode(mode: str, args: argparse.Namespace, background: Background, rasa_url: str | None) -> dict[str, Any]:
    bot_api = PollingBotApi()
    background.run(bot_api.__aenter__())
    folder = Path(tempfile.mkdtemp(prefix=f"gridtalk-memory-{mode}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(
        GRIDTALK_RUN_MODE=mode,
        GRIDTALK_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_RASA_PORT=str(free_port()),
        GRIDTALK_WORKER_METRICS_PORT="0",
        GRIDTALK_MAIL_CATCHER_PORT=str(free_port()),
        GRIDTALK_MAIL_CATCHER_DIR=str(folder / "mail"),
        GRIDTALK_TELEGRAM_TOKEN=TOKEN,
        GRIDTALK_TELEGRAM_API_BASE=bot_api.base_url,
        GRIDTALK_LOG_LEVEL="WARNING",
        GRIDTALK_CHAT_RATE_LIMIT="1000",
        GRIDTALK_CHAT_SESSION_RATE_LIMIT="100000",
        PYTHONUNBUFFERED="1",
    )
    if rasa_url:
        env["GRIDTALK_RASA_URL"] = rasa_url
    base = f"http://127.0.0.1:{env['GRIDTALK_API_PORT']}"
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "gridtalk.runner", "prepare"], cwd=ROOT, env=env, check=True, timeout=600)
    prepared_s = time.monotonic() - began

    run = Run(env)
    result: dict[str, Any] = {"mode": mode, "prepare_cold_s": round(prepared_s, 1)}
    try:
        app_ready = ready = None
        deadline = time.monotonic() + (60 if rasa_url else 300)
        while time.monotonic() < deadline and run.proc.poll() is None:
            status, body = readyz(base)
            now = time.monotonic() - run.started
            if app_ready is None and body.get("database") == "ok" and body.get("worker") == "ok":
                app_ready = now
            if status == 200:
                ready = now
                break
            time.sleep(0.2)
        if ready is None:
            raise SystemExit(f"{mode}: /readyz not 200; output:\n{run.tail()}")
        spawned = run.first(r"starting api and worker")
        rasa = None
        waited = time.monotonic() + 60
        while not rasa_url and rasa is None and time.monotonic() < waited:  # /readyz may beat `run`'s own line
            rasa = run.first(r"Rasa loaded its model in ([\d.]+) s")
            time.sleep(0.1)
        result["ready_s"] = round(ready, 1)
        result["rasa_load_s"] = float(rasa[1].group(1)) if rasa else 0.0
        result["beyond_rasa_s"] = round(ready - result["rasa_load_s"], 1)
        rasa_started = run.first(r"starting Rasa on")
        result["rasa_started_at_s"] = round(rasa_started[0], 1) if rasa_started else None
        if rasa_started:  # after Rasa answered its first parse, until /readyz 200
            result["after_rasa_s"] = round(ready - rasa_started[0] - result["rasa_load_s"], 1)
        result["app_start_s"] = round(app_ready - spawned[0], 1) if app_ready is not None and spawned else None
        result["idle_rss_mb"] = {k: round(v, 1) for k, v in rss_by_role(run).items()}

        with sampling(run) as samples:
            load = asyncio.run(chat_load(base, args.seconds, args.concurrency, bot_api, args.seconds))
        result["load"] = load
        result["telegram_replies"] = len(bot_api.sent())
        peak = max(samples, key=app_total)
        result["peak_rss_mb"] = {k: round(v, 1) for k, v in peak.items()}
        result["app_total_mb"] = round(app_total(peak), 1)
        result["supervisor_mb"] = round(max(s.get("supervisor", 0.0) for s in samples), 1)
        result["rasa_mb"] = round(max(s.get("rasa", 0.0) for s in samples), 1) if not rasa_url else None
        result["mailcatcher_mb"] = round(max(s.get("mailcatcher", 0.0) for s in samples), 1) or None
        result["processes"] = sorted({role for s in samples for role in s})

        stopping = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(60)
        result["stop_s"] = round(time.monotonic() - stopping, 1)
        result["exit_code"] = code
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
        background.run(bot_api.__aexit__())
    return result


def supervisor_imports() -> dict[str, Any]:
    """What the `run` supervisor process imports (the CLI and the runner), and the RSS after."""
    code = (
        "import sys, gridtalk.cli, gridtalk.runner\n"
        "heavy = ['aiogram', 'fastapi', 'alembic', 'uvicorn', 'redis', 'sqlalchemy', 'core.models.customers']\n"
        "rss = int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "print(','.join(m for m in heavy if m in sys.modules)); print(round(rss, 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    imported, rss = out.stdout.split("\n")[:2]
    return {"imports": imported.split(",") if imported else [], "rss_after_import_mb": float(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fake NLU server instead of Rasa, 6 s of load")
    parser.add_argument("--modes", default=None, help="embedded,processes (default both; quick: embedded)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of chat load (default 20; quick 6)")
    parser.add_argument("--concurrency", type=int, default=4, help="web chat customers at once")
    args = parser.parse_args()
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    args.modes = args.modes or ("embedded" if args.quick else "embedded,processes")
    if not args.quick and current_model(ROOT / "nlu" / "models") is None:
        raise SystemExit("no NLU model trained from nlu/ as it is: run `make model` first (or use --quick)")

    background = Background()
    rasa_url = None
    if args.quick:
        port = free_port()
        background.run(fake_rasa(port))
        rasa_url = f"http://127.0.0.1:{port}"
    results = []
    try:
        for mode in args.modes.split(","):
            print(f"[bench] {mode}: starting `gridtalk run`…", file=sys.stderr, flush=True)
            results.append(measure_mode(mode.strip(), args, background, rasa_url))
    finally:
        background.close()
    supervisor = supervisor_imports()
    report(results, supervisor, args)


def report(results: list[dict[str, Any]], supervisor: dict[str, Any], args: argparse.Namespace) -> None:
    nlu = "quick: a fake NLU server, so the start is all app" if args.quick else "a real Rasa"
    print(f"\nMemory and start-up of `gridtalk run` ({nlu}; bot token set)")
    header = f"{'':38s}" + "".join(f"{r['mode']:>14s}" for r in results)
    print(header)

    def row(label: str, key: Any, unit: str = "") -> None:
        values = [key(r) for r in results]
        cells = "".join(f"{'—' if v is None else f'{v:g}{unit}':>14s}" for v in values)
        print(f"{label:38s}{cells}")

    row("api + worker + bot, peak RSS (MB)", lambda r: r["app_total_mb"])
    row("  of which: app (embedded)", lambda r: r["peak_rss_mb"].get("app"))
    row("  api", lambda r: r["peak_rss_mb"].get("api"))
    row("  worker", lambda r: r["peak_rss_mb"].get("worker"))
    row("  bot", lambda r: r["peak_rss_mb"].get("bot"))
    row("mail catcher (own process) (MB)", lambda r: r["mailcatcher_mb"])
    row("`run` supervisor (MB)", lambda r: r["supervisor_mb"])
    row("Rasa (MB)", lambda r: r["rasa_mb"])
    row("time to /readyz 200 (s)", lambda r: r["ready_s"])
    row("Rasa's own load (s)", lambda r: r["rasa_load_s"])
    row("ready beyond Rasa (s)", lambda r: r["beyond_rasa_s"])
    row("  before Rasa is started (s)", lambda r: r.get("rasa_started_at_s"))
    row("  after Rasa's first parse (s)", lambda r: r.get("after_rasa_s"))
    row("app start: spawn → db+worker ok (s)", lambda r: r["app_start_s"])
    row("stop after SIGINT (s)", lambda r: r["stop_s"])
    row("chat turns/s under load", lambda r: r["load"]["turns_per_s"])
    row("chat errors", lambda r: sum(r["load"]["errors"].values()))
    row("Telegram replies sent", lambda r: r["telegram_replies"])
    for r in results:
        if r["load"]["errors"]:
            print(f"chat errors by status ({r['mode']}): {r['load']['errors']}")
    for r in results:
        met_mem = r["app_total_mb"] <= GOAL_MB
        met_start = r["beyond_rasa_s"] <= GOAL_BEYOND_RASA_S
        print(
            f"goal {r['mode']}: api+worker+bot ≤ {GOAL_MB:g} MB: {'met' if met_mem else 'NOT met'}; "
            f"ready ≤ {GOAL_BEYOND_RASA_S:g} s beyond Rasa: {'met' if met_start else 'NOT met'}"
        )
    heavy = ", ".join(supervisor["imports"]) or "none of them"
    print(
        f"supervisor imports (of aiogram, fastapi, alembic, uvicorn, redis, sqlalchemy, the models): {heavy};"
        f" {supervisor['rss_after_import_mb']:g} MB after import"
    )
    out = ROOT / "reports" / "bench" / "memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"quick": args.quick, "seconds": args.seconds, "runs": results, "supervisor": supervisor}
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
