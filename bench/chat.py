"""Web chat turn benchmark: what one customer message costs gridtalk on top of the Rasa parse it waits for.

It starts one Rasa server (nlu.project.RasaServer, the current model of nlu/; or --rasa-url reuses a running
one) and, for each database, the api as a `gridtalk api` subprocess on a free loopback port against a scratch
database — a SQLite file under a temporary folder, and the PostgreSQL database `bench_chat` (dropped and made
again; --pg-url names the server). The demo data is loaded (core.demo, deterministic) and --customers web chat
sessions are started and bound to demo residential accounts (as the demo loader binds its own customers: an
identity_accounts row, verified). Then, side by side against the same Rasa server, it measures at concurrency
1, 2, 4 and 8: bare Rasa `POST /model/parse` of the customers' sentences, and web chat turns (`POST
/api/v1/chat/sessions/{id}/messages`, the public API) of bound customers asking about outages and bills
("现在停电了吗", "这个月电费多少", ...); each request goes to the next customer in turn.

Printed: a table of turns/s, p50 and p99 per path, database and concurrency, with the ratio of a turn's
throughput to bare Rasa's and a turn's own cost (turn p50 − Rasa p50 at concurrency 1). Written:
reports/bench/chat.json, and the chart docs/img/chat-turns.png (turns/s and p99 against concurrency, Rasa
beside gridtalk; drawn with matplotlib from Rasa's venv, .venv-rasa, as the app's venv has none).

--profile also runs the api in this process (httpx's ASGI transport, same Rasa) and prints, for one turn of
each sentence, every SQL statement it ran (SQLAlchemy's before/after_cursor_execute) and the time by phase:
NLU call, database, template rendering, the rest (routing, JSON, FastAPI).

--sample samples the api subprocess itself with py-spy (a dev dependency; it needs ptrace, as root or with
CAP_SYS_PTRACE) while the turns are measured, writes its stacks to reports/bench/chat-api-<db>.folded and
prints where the api's CPU went: by the nearest gridtalk function and by library. This is the profile of the
real process under load (uvicorn, uvloop, asyncpg), unlike --profile's in-process run.

Goals: turn throughput ≥ 0.8 × bare Rasa's at concurrency 1 and 8 on PostgreSQL (≥ 0.6 × on SQLite); turn p99
≤ Rasa's p99 + 15 ms at concurrency 8; a turn's own cost ≤ 5 ms on PostgreSQL.

Run: `.venv/bin/python bench/chat.py [--requests 400] [--customers 64] [--db sqlite,postgresql] [--profile]`;
`--quick` (100 requests, concurrency 1 and 8, < 1 minute once Rasa is up). Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.common import Recorder, admin, measure  # noqa: E402
from core.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from core.db.migrate import upgrade_async  # noqa: E402
from core.demo.loader import load_demo  # noqa: E402
from core.models import Conversation, Identity, IdentityAccount, UtilityAccount  # noqa: E402
from core.models.enums import ChatChannel, Language, Segment  # noqa: E402
from nlu.project import RasaServer, current_model, free_port, latest_model  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_chat"
CONCURRENCY = (1, 2, 4, 8)
# What bound customers ask (the NLU sees exactly these texts, bare and through a turn).
TEXTS = (
    "现在停电了吗",
    "这个月电费多少",
    "我家上个月电费多少",
    "上个月用了多少度电",
    "我还欠多少电费",
    "下个月有检修停电吗",
)
OUT = ROOT / "reports" / "bench" / "chat.json"
CHART = ROOT / "docs" / "img" / "chat-turns.png"


# ------------------------------------------------------------------------------------------- databases
async def fresh_database(url: str) -> None:
    """An empty database at `url`, migrated to head (a SQLite file is deleted first)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 (set-up, not measured)
    else:
        name = parsed.database
        await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    await upgrade_async(url)


async def drop_database(url: str) -> None:
    if make_url(url).get_backend_name() != "sqlite":
        await admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def bind_customers(engine: AsyncEngine, accounts: list[int], now: datetime) -> list[str]:
    """A web chat session (identity + open conversation) bound to each account, as the demo loader binds;
    the session ids."""
    sessions = [uuid.uuid4().hex for _ in accounts]
    async with session_scope(make_sessionmaker(engine)) as session:
        identities = [
            Identity(channel=ChatChannel.WEB, external_id=sid, language=Language.ZH, created_at=now, last_seen_at=now)
            for sid in sessions
        ]
        session.add_all(identities)
        await session.flush()
        for identity, account_id in zip(identities, accounts, strict=True):
            session.add(
                Conversation(identity_id=identity.id, channel=ChatChannel.WEB, created_at=now, last_message_at=now)
            )
            session.add(
                IdentityAccount(identity_id=identity.id, account_id=account_id, verified_at=now, is_current=True)
            )
    return sessions


async def prepare(url: str, customers: int) -> list[str]:
    """The scratch database with the demo data and `customers` bound web chat sessions (their ids)."""
    await fresh_database(url)
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            await load_demo(session, now)
        async with make_sessionmaker(engine)() as session:
            accounts = list(
                await session.scalars(
                    select(UtilityAccount.id)
                    .where(UtilityAccount.customer.has(segment=Segment.RESIDENTIAL))
                    .order_by(UtilityAccount.id)
                    .limit(customers)
                )
            )
        if len(accounts) < customers:
            raise SystemExit(f"the demo holds {len(accounts)} residential accounts; ask for at most that many")
        return await bind_customers(engine, accounts, now)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------ processes
def start_rasa(rasa_url: str | None) -> tuple[str, RasaServer | None]:
    if rasa_url:
        return rasa_url, None
    model = current_model(ROOT / "nlu" / "models") or latest_model(ROOT / "nlu" / "models")
    if model is None:
        raise SystemExit("no trained NLU model in nlu/models: run `make model` (or pass --rasa-url)")
    server = RasaServer(model, free_port(), ROOT / ".venv-rasa")
    server.start()
    try:
        load_s = server.wait_ready(progress=lambda line: print(line, file=sys.stderr))
    except BaseException:
        server.stop()
        raise
    print(f"Rasa ready ({model.name}) after {load_s:.0f} s", file=sys.stderr)
    return server.url, server


def api_env(database_url: str, rasa_url: str, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    env.update(
        GRIDTALK_ENV="dev",
        GRIDTALK_DATABASE_URL=database_url,
        GRIDTALK_API_PORT=str(port),
        GRIDTALK_RASA_URL=rasa_url,
        PYTHONPATH=str(ROOT),  # this tree's code, whatever the venv has installed
        PYTHONUNBUFFERED="1",
    )
    env.update({f"GRIDTALK_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass(frozen=True)
class ApiProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the api process has used so far."""
        import psutil

        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


@contextlib.contextmanager
def api_process(env: dict[str, str], log_path: Path) -> Iterator[ApiProcess]:
    """`gridtalk api` with `env`, until the block ends, once /healthz answers."""
    url = f"http://127.0.0.1:{env['GRIDTALK_API_PORT']}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gridtalk"), "api"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the api exited ({proc.returncode}); see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code < 500:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the api did not answer within 60 s; see {log_path}")
                time.sleep(0.3)
            yield ApiProcess(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------------------------------- measuring
def turn_call(http: httpx.AsyncClient, sessions: list[str]) -> Callable[[int], Awaitable[object]]:
    async def turn(n: int) -> object:
        sid = sessions[n % len(sessions)]
        response = await http.post(f"/api/v1/chat/sessions/{sid}/messages", json={"text": TEXTS[n % len(TEXTS)]})
        if response.status_code != 200:
            raise RuntimeError(f"turn answered {response.status_code}: {response.text[:200]}")
        body: dict[str, Any] = response.json()
        if not body["replies"]:
            raise RuntimeError("a turn without a reply")
        return body

    return turn


def parse_call(http: httpx.AsyncClient) -> Callable[[int], Awaitable[object]]:
    async def parse(n: int) -> object:
        response = await http.post("/model/parse", json={"text": TEXTS[n % len(TEXTS)]})
        response.raise_for_status()
        return response.json()

    return parse


@contextlib.contextmanager
def sampled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy samples process `pid` while the block lasts (nothing when out is None); its folded stacks go to
    `out`."""
    if out is None:
        yield
        return
    options = ["--pid", str(pid), "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)]
    spy = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "py-spy"), "record", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        _, err = spy.communicate(timeout=60)
        if not out.exists():
            print(f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]}", file=sys.stderr)


LIBRARIES = (
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "uvicorn",
    "fastapi",
    "starlette",
    "pydantic",
    "aiohttp",
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "jinja2",
    "asyncio",
    "logging",
)


def library_of(leaf: str) -> str:
    """What the innermost frame of a sample belongs to."""
    if "(selectors.py" in leaf:
        return "waiting for I/O (asyncio's loop)"
    if "Runner.run" in leaf or "run_forever" in leaf:
        return "uvloop (its I/O wait and its C callbacks)"
    if "(threading.py" in leaf or "(queue.py" in leaf:
        return "worker threads"
    if any(f"({d}/" in leaf for d in ("core", "api", "nlu", "bot")):
        return "gridtalk"
    return next((lib for lib in LIBRARIES if f"/{lib}/" in leaf or f"({lib}/" in leaf), "other")


def print_samples(path: Path, top: int = 25) -> None:
    """Where the sampled api spent its time: per nearest gridtalk function (the library code it called counted
    with it) and per library of the innermost frame."""
    by_function: dict[str, int] = {}
    by_library: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        ours = [f for f in frames if any(f"({d}/" in f for d in ("core", "api", "nlu", "bot"))]
        where = ours[-1].split(" (")[0] + " " + ours[-1].split(" (")[1].split(":")[0] if ours else "(outside)"
        by_function[where] = by_function.get(where, 0) + n
        library = library_of(frames[-1])
        by_library[library] = by_library.get(library, 0) + n
    print(f"\nsampled api ({path.name}): {total} samples at 250/s")
    print("  by library (innermost frame):")
    for name, n in sorted(by_library.items(), key=lambda kv: -kv[1]):
        print(f"    {100 * n / total:5.1f} %  {name}")
    print(f"  by nearest gridtalk function (top {top}; '(outside)': no gridtalk frame, e.g. the ORM's greenlet):")
    for name, n in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {100 * n / total:5.1f} %  {name}")


async def run_database(
    db: str,
    url: str,
    rasa_url: str,
    sessions: list[str],
    requests: int,
    levels: tuple[int, ...],
    log: Path,
    sample: Path | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    env = api_env(url, rasa_url, free_port())
    with api_process(env, log) as api_proc, sampled(api_proc.pid, sample):
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with (
            httpx.AsyncClient(base_url=rasa_url, timeout=30, limits=limits) as rasa,
            httpx.AsyncClient(base_url=api_proc.url, timeout=30, limits=limits) as api,
        ):
            bare, turn = parse_call(rasa), turn_call(api, sessions)
            await measure(turn, 2 * len(sessions), 4)  # warm-up: every customer's first turn (outage told)
            for concurrency in levels:
                for path, call in (("rasa", bare), ("turn", turn)):
                    await measure(call, 30, concurrency)  # warm-up
                    cpu = api_proc.cpu_seconds()
                    row = {"db": db, "path": path, **await measure(call, requests, concurrency)}
                    if path == "turn":  # the api's own CPU per turn (the database's and Rasa's not counted)
                        row["api_cpu_ms"] = round((api_proc.cpu_seconds() - cpu) / requests * 1000, 2)
                    rows.append(row)
                    print(
                        f"  {db:<11}{path:<6}c={concurrency:<3}{row['throughput_rps']:>8}/s "
                        f"p50 {row['p50_ms']:>7} ms  p99 {row['p99_ms']:>7} ms"
                        + (f"  api CPU {row['api_cpu_ms']} ms/turn" if "api_cpu_ms" in row else ""),
                        file=sys.stderr,
                    )
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database and concurrency: turn vs bare Rasa (throughput ratio, p99 margin), and the turn's own cost."""
    out: list[dict[str, Any]] = []
    for db in dict.fromkeys(r["db"] for r in rows):
        for concurrency in dict.fromkeys(r["concurrency"] for r in rows if r["db"] == db):
            pick = {r["path"]: r for r in rows if r["db"] == db and r["concurrency"] == concurrency}
            rasa, turn = pick["rasa"], pick["turn"]
            out.append(
                {
                    "db": db,
                    "concurrency": concurrency,
                    "rasa_rps": rasa["throughput_rps"],
                    "turn_rps": turn["throughput_rps"],
                    "ratio": round(turn["throughput_rps"] / rasa["throughput_rps"], 2),
                    "rasa_p50_ms": rasa["p50_ms"],
                    "turn_p50_ms": turn["p50_ms"],
                    "own_cost_ms": round(turn["p50_ms"] - rasa["p50_ms"], 2),
                    "rasa_p99_ms": rasa["p99_ms"],
                    "turn_p99_ms": turn["p99_ms"],
                    "p99_margin_ms": round(turn["p99_ms"] - rasa["p99_ms"], 2),
                }
            )
    return out


def print_table(summary: list[dict[str, Any]]) -> None:
    print(
        f"{'db':<11}{'conc':>5}{'rasa/s':>9}{'turn/s':>9}{'ratio':>7}{'rasa p50':>10}{'turn p50':>10}"
        f"{'own ms':>8}{'rasa p99':>10}{'turn p99':>10}{'margin':>8}"
    )
    for s in summary:
        print(
            f"{s['db']:<11}{s['concurrency']:>5}{s['rasa_rps']:>9}{s['turn_rps']:>9}{s['ratio']:>7}"
            f"{s['rasa_p50_ms']:>10}{s['turn_p50_ms']:>10}{s['own_cost_ms']:>8}{s['rasa_p99_ms']:>10}"
            f"{s['turn_p99_ms']:>10}{s['p99_margin_ms']:>8}"
        )


CHART_SCRIPT = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
data = json.load(open(sys.argv[1]))
rows = data["runs"]
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
for db in dict.fromkeys(r["db"] for r in rows):
    for path, style in (("rasa", "--"), ("turn", "-")):
        pts = sorted((r["concurrency"], r["throughput_rps"], r["p99_ms"]) for r in rows
                     if r["db"] == db and r["path"] == path)
        label = ("bare Rasa parse" if path == "rasa" else "gridtalk web chat turn") + f" ({db})"
        left.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=label)
        right.plot([p[0] for p in pts], [p[2] for p in pts], style, marker="o", label=label)
left.set_title("throughput"); left.set_xlabel("concurrency"); left.set_ylabel("requests / s")
right.set_title("p99 latency"); right.set_xlabel("concurrency"); right.set_ylabel("ms")
for ax in (left, right):
    ax.set_xticks([1, 2, 4, 8]); ax.grid(alpha=0.3); ax.set_ylim(bottom=0)
left.legend(fontsize=7)
fig.suptitle(data.get("title", "web chat turns vs bare Rasa parse"), fontsize=10)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
"""


def draw_chart(json_path: Path, png: Path) -> None:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    if not python.exists():
        print("no .venv-rasa: chart not drawn", file=sys.stderr)
        return
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python), "-c", CHART_SCRIPT, str(json_path), str(png)], check=True)
    print(f"chart written to {png.relative_to(ROOT)}")


# ------------------------------------------------------------------------------------------ profiling
class Timed:
    """Wraps an async or sync callable on an object, summing the time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap_sync(self, obj: Any, name: str) -> None:
        inner = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(obj, name, timed)


def short(statement: str) -> str:
    return " ".join(statement.split())[:150]


async def profile(db: str, url: str, rasa_url: str, sessions: list[str], rounds: int) -> dict[str, Any]:
    """The api in this process: every statement of one turn of each text, and the time by phase over `rounds`."""
    from api.app import create_app
    from core.config import Settings

    app = create_app(Settings(database_url=url, rasa_url=rasa_url))
    recorder = Recorder()
    nlu_time, render_time = Timed(), Timed()
    async with app.router.lifespan_context(app):
        recorder.attach(app.state.engine)
        conversations = app.state.webchat.conversations
        conversations.nlu = _TimedNlu(conversations.nlu, nlu_time)
        render_time.wrap_sync(conversations.engine.replies.renderer, "render")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            turn = turn_call(http, sessions)
            for n in range(2 * len(sessions)):  # every customer's first turns (the outage told once)
                await turn(n)
            per_text: list[dict[str, Any]] = []
            for i, text_ in enumerate(TEXTS):
                recorder.on = True
                await turn(len(sessions) * len(TEXTS) + i)
                recorder.on = False
                statements = recorder.take()
                per_text.append(
                    {"text": text_, "queries": len(statements), "statements": [short(s) for s, _, _ in statements]}
                )
            totals = {"turn": 0.0, "db": 0.0}
            nlu_time.seconds = render_time.seconds = 0.0
            recorder.on = True
            for n in range(rounds):
                started = time.perf_counter()
                await turn(n)
                totals["turn"] += time.perf_counter() - started
                totals["db"] += sum(d for _, _, d in recorder.take())
            recorder.on = False
    ms = {k: round(v / rounds * 1000, 2) for k, v in totals.items()}
    ms["nlu"] = round(nlu_time.seconds / rounds * 1000, 2)
    ms["render"] = round(render_time.seconds / rounds * 1000, 2)
    ms["rest"] = round(ms["turn"] - ms["db"] - ms["nlu"] - ms["render"], 2)
    return {"db": db, "per_text": per_text, "phases_ms": ms}


class _TimedNlu:
    def __init__(self, inner: Any, timed: Timed) -> None:
        self.inner = inner
        self.timed = timed

    async def parse(self, text_: str) -> Any:
        started = time.perf_counter()
        try:
            return await self.inner.parse(text_)
        finally:
            self.timed.seconds += time.perf_counter() - started

    async def ready(self) -> bool:
        return bool(await self.inner.ready())


def print_profile(result: dict[str, Any]) -> None:
    print(f"\nprofile ({result['db']}): time by phase per turn, ms: {result['phases_ms']}")
    for item in result["per_text"]:
        print(f"  {item['text']}: {item['queries']} statements")
        for statement in item["statements"]:
            print(f"      {statement}")


# ------------------------------------------------------------------------------------------------ main
@contextlib.asynccontextmanager
async def scratch(db: str, folder: Path, pg_url: str) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{folder / 'chat.db'}" if db == "sqlite" else pg_url
    try:
        yield url
    finally:
        await drop_database(url)


async def bench(args: argparse.Namespace, rasa_url: str, folder: Path) -> dict[str, Any]:
    levels = (1, 8) if args.quick else CONCURRENCY
    requests = 100 if args.quick else args.requests
    rows: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    for db in args.db.split(","):
        async with scratch(db, folder, args.pg_url) as url:
            sessions = await prepare(url, args.customers)
            if args.profile:
                profiles.append(await profile(db, url, rasa_url, sessions, 50 if args.quick else 200))
                print_profile(profiles[-1])
                sessions = await prepare(url, args.customers)
            sample = OUT.parent / f"chat-api-{db}.folded" if args.sample else None
            OUT.parent.mkdir(parents=True, exist_ok=True)
            rows += await run_database(db, url, rasa_url, sessions, requests, levels, folder / f"api-{db}.log", sample)
            if sample is not None and sample.exists():
                print_samples(sample)
    return {"requests": requests, "customers": args.customers, "texts": list(TEXTS), "runs": rows, "profiles": profiles}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--customers", type=int, default=64, help="bound web chat customers (≤ 240)")
    parser.add_argument("--db", default="sqlite,postgresql", help="databases, comma-separated")
    parser.add_argument("--pg-url", default=PG_URL, help="the scratch PostgreSQL database (dropped and made again)")
    parser.add_argument("--rasa-url", help="a running Rasa server to use instead of starting one")
    parser.add_argument("--profile", action="store_true", help="also count the queries of a turn and time its phases")
    parser.add_argument("--sample", action="store_true", help="sample the api with py-spy while it serves the turns")
    parser.add_argument("--quick", action="store_true", help="100 requests at concurrency 1 and 8")
    parser.add_argument("--no-chart", action="store_true", help="do not draw docs/img/chat-turns.png")
    args = parser.parse_args()
    rasa_url, server = start_rasa(args.rasa_url)
    try:
        with tempfile.TemporaryDirectory(prefix="gridtalk-bench-chat-") as tmp:
            result = asyncio.run(bench(args, rasa_url, Path(tmp)))
    finally:
        if server is not None:
            server.stop()
    result["summary"] = summarise(result["runs"])
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print()
    print_table(result["summary"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written to {OUT.relative_to(ROOT)}")
    if not args.no_chart and not args.quick:
        draw_chart(OUT, CHART)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
