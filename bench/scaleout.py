"""Scale-out on one machine: two api processes and two workers on one PostgreSQL and one Redis.

What it does: a scratch PostgreSQL database `bench_scaleout` (created and dropped here) migrated and loaded with
the demo data, plus N Telegram subscribers on a feeder of their own; Redis db 14 (flushed first) for the web chat's
state, the rate-limit counters and the shared Telegram limiter; two `gridtalk api` and two `gridtalk worker`
processes, each worker talking to a fake Bot API server of its own on loopback (tests/fakes, one bot token: one
shared limit). Then, at once: a chat load through both apis (round robin, request by request, so a session lives in
Redis, not in an api) and one planned outage published on that feeder (an immediate notice to each of the N, split
between the workers by the outbox's `FOR UPDATE SKIP LOCKED`).

It prints how many notices each worker sent, whether any subscriber got the notice twice (and whether each got
it), the most sends of both workers together in any 1-second window against the cap
(GRIDTALK_NOTICE_RATE_LIMIT, kept across processes by core/notices/shared_limiter.py), the fan-out's time and
rate, the deliveries' statuses as the API reports them, and the chat's turns/s, p50/p99 and errors per api.
Writes reports/bench/scaleout.json.

Goals: every delivery sent exactly once; both workers take part; no 1-second window above the cap; no chat errors.

Run: `.venv/bin/python bench/scaleout.py` (3 000 subscribers at 200/s, a real Rasa: ≈ 2 min) or `--quick` (400
at 100/s, a fake NLU server: < 1 min); `--rasa-url` uses a running Rasa instead of starting one (or the fake).
Needs PostgreSQL and Redis on 127.0.0.1 (GRIDTALK_BENCH_POSTGRES, GRIDTALK_BENCH_REDIS to point elsewhere).
Everything binds to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.memory import Background, fake_rasa  # noqa: E402
from core.models import Area, Customer, Feeder, Identity, IdentityAccount, Tariff, UtilityAccount  # noqa: E402
from core.models.enums import ChatChannel, Language, Segment  # noqa: E402
from nlu.project import RasaServer, current_model, free_port  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402

POSTGRES = os.environ.get("GRIDTALK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("GRIDTALK_BENCH_REDIS", "redis://127.0.0.1:6379/14")
DATABASE = "bench_scaleout"
TOKEN = "654321:BENCH-scaleout-token"
STAFF = ("bench.scaleout", "bench-scaleout-Passw0rd!")
FEEDER, AREA = "BENCH-F01", "BENCH"
CHAT_BASE = 9_100_000_000  # the bench subscribers' Telegram chats: nobody else's
QUESTIONS = [
    "你好",
    "现在停电了吗",
    "我家上个月电费多少",
    "is there a power cut now",
    "下个月有检修停电吗",
    "what's my balance",
]


async def create_database() -> str:
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    return f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://')}/{DATABASE}"


async def drop_database() -> None:
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await conn.close()


async def flush_redis() -> None:
    redis = Redis.from_url(REDIS)
    try:
        await redis.flushdb()  # db 14: this bench's own
    finally:
        await redis.aclose()


async def add_subscribers(database_url: str, n: int) -> None:
    """N residential customers on the bench feeder, each with a bound Telegram identity subscribed to notices:
    bulk inserts (generating data is not what is measured)."""
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            tariff = (await conn.execute(select(Tariff.id).where(Tariff.code == "RES-TIERED-TOU"))).scalar_one()
            await conn.execute(insert(Area), [{"code": AREA, "name": "压测片区", "name_en": "Bench area"}])
            await conn.execute(
                insert(Feeder), [{"code": FEEDER, "area_code": AREA, "name": "压测线", "lines": "压测路"}]
            )
            customers = await conn.execute(
                insert(Customer).returning(Customer.id),
                [
                    {"name": f"压测用户{i}", "segment": Segment.RESIDENTIAL, "language": Language.ZH, "created_at": now}
                    for i in range(n)
                ],
            )
            customer_ids = [row[0] for row in customers]
            accounts = await conn.execute(
                insert(UtilityAccount).returning(UtilityAccount.id),
                [
                    {
                        "account_number": f"89{i:08d}",
                        "customer_id": cid,
                        "address": f"压测路{i}号",
                        "area_code": AREA,
                        "feeder_code": FEEDER,
                        "phone": f"139{i:08d}",
                        "tariff_id": tariff,
                        "created_at": now,
                    }
                    for i, cid in enumerate(customer_ids)
                ],
            )
            account_ids = [row[0] for row in accounts]
            identities = await conn.execute(
                insert(Identity).returning(Identity.id),
                [
                    {
                        "channel": ChatChannel.TELEGRAM,
                        "external_id": str(CHAT_BASE + i),
                        "telegram_chat_id": CHAT_BASE + i,
                        "language": Language.ZH,
                        "subscribed_notices": True,
                        "created_at": now,
                    }
                    for i in range(n)
                ],
            )
            identity_ids = [row[0] for row in identities]
            await conn.execute(
                insert(IdentityAccount),
                [
                    {"identity_id": iid, "account_id": aid, "verified_at": now, "is_current": True}
                    for iid, aid in zip(identity_ids, account_ids, strict=True)
                ],
            )
    finally:
        await engine.dispose()


Send = tuple[int | None, float, int, bool]  # chat, arrival (monotonic, shared by every process), status, ok


def _serve_fake_apis(conn: Any) -> None:
    """The child process holding both fake Bot API servers; answers "count", "calls" and "stop" on `conn`."""

    async def main() -> None:
        apis = [FakeTelegramApi(), FakeTelegramApi()]
        for api in apis:
            await api.__aenter__()
        conn.send([api.base_url for api in apis])
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
            if command == "count":
                conn.send(sum(1 for api in apis for c in api.sent() if (c.chat_id or 0) >= CHAT_BASE))
            else:
                conn.send(
                    [
                        [
                            (c.chat_id, c.at, c.status, bool(c.params.get("_ok")))
                            for c in api.calls
                            if c.method == "sendMessage"
                        ]
                        for api in apis
                    ]
                )
        for api in apis:
            await api.__aexit__()

    asyncio.run(main())


class FakeApis:
    """Two fake Bot API servers (one per worker) in a process of their own, so that the bench's own work (the
    chat load) does not delay them and bunch the arrival times they record."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_serve_fake_apis, args=(child,), daemon=True)
        self.proc.start()
        self.base_urls: list[str] = self.conn.recv()

    def ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def close(self) -> None:
        if self.proc.is_alive():
            self.conn.send("stop")
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


class Proc:
    """A `gridtalk <command>` child; its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridtalk", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


async def wait_healthy(base: str, proc: Proc, within: float = 90) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise SystemExit(f"{proc.name} exited:\n{proc.tail()}")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"{proc.name} not healthy within {within} s:\n{proc.tail()}")


async def chat_load(bases: list[str], until: asyncio.Event, min_seconds: float, concurrency: int) -> dict[str, Any]:
    """Customers on the web chat; each request goes to the next api in turn (a session started on one is continued
    on the other)."""
    turn = 0
    latencies: list[float] = []
    by_api: dict[str, Counter[str]] = {base: Counter() for base in bases}
    started = time.monotonic()

    def next_base() -> str:
        nonlocal turn
        turn += 1
        return bases[turn % len(bases)]

    async def customer(index: int, client: httpx.AsyncClient) -> None:
        while not until.is_set() or time.monotonic() - started < min_seconds:
            base = next_base()
            created = await client.post(f"{base}/api/v1/chat/sessions", json={"language": "zh"})
            by_api[base][str(created.status_code)] += 1
            if created.status_code != 201:
                await asyncio.sleep(0.2)
                continue
            session = created.json()["session_id"]
            for text in QUESTIONS[index % 2 :][:3]:
                base = next_base()
                began = time.perf_counter()
                answered = await client.post(f"{base}/api/v1/chat/sessions/{session}/messages", json={"text": text})
                latencies.append(time.perf_counter() - began)
                by_api[base][str(answered.status_code)] += 1

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(customer(i, client) for i in range(concurrency)))
    took = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None

    return {
        "seconds": round(took, 1),
        "turns": len(latencies),
        "turns_per_s": round(len(latencies) / took, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "status_by_api": {f"api{i + 1}": dict(by_api[base]) for i, base in enumerate(bases)},
        "errors": sum(n for c in by_api.values() for status, n in c.items() if status not in ("200", "201")),
    }


def max_per_clock_second(times: list[float]) -> int:
    """The most sends counted in one second of the clock (as a server counting per second sees them)."""
    return max(Counter(int(at) for at in times).values(), default=0)


def max_in_one_second(times: list[float]) -> int:
    """The most sends in any 1-second window (sliding: stricter than per clock second)."""
    times = sorted(times)
    best, left = 0, 0
    for right, at in enumerate(times):
        while at - times[left] >= 1.0:
            left += 1
        best = max(best, right - left + 1)
    return best


async def run(args: argparse.Namespace, background: Background) -> dict[str, Any]:
    n, cap = args.subscribers, args.rate
    rasa_server: RasaServer | None = None
    if args.rasa_url:
        rasa_url = args.rasa_url
    elif args.quick:
        port = free_port()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fake_rasa(port), background.loop))
        rasa_url = f"http://127.0.0.1:{port}"
    else:
        model = current_model(ROOT / "nlu" / "models")
        if model is None:
            raise SystemExit("no NLU model trained from nlu/ as it is: run `make model` first (or use --quick)")
        rasa_server = RasaServer(model, free_port(), ROOT / ".venv-rasa")
        rasa_server.start()
    fakes = FakeApis()
    procs: list[Proc] = []
    logs = ROOT / "var" / "log" / "bench-scaleout"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        database_url = await create_database()
        await flush_redis()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
        env.update(
            GRIDTALK_ENV="test",
            GRIDTALK_DATABASE_URL=database_url,
            GRIDTALK_REDIS_URL=REDIS,
            GRIDTALK_TELEGRAM_TOKEN=TOKEN,
            GRIDTALK_NOTICE_RATE_LIMIT=str(cap),
            GRIDTALK_NOTICE_ALLOW_PAID_BROADCAST="true" if cap > 30 else "false",
            GRIDTALK_NOTICE_BATCH_SIZE=str(args.batch),
            GRIDTALK_NOTICE_QUIET_START="00:00",  # no quiet hours: the notice goes now, whatever the time
            GRIDTALK_NOTICE_QUIET_END="00:00",
            GRIDTALK_CHAT_SESSION_RATE_LIMIT="100000",
            GRIDTALK_WORKER_METRICS_PORT="0",
            GRIDTALK_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        began = time.monotonic()
        staff = ["staff", "create", "--username", STAFF[0], "--password", STAFF[1], "--role", "admin"]
        for command in (["-m", "gridtalk.runner", "prepare"], ["-m", "gridtalk", *staff]):
            await asyncio.to_thread(
                subprocess.run, [sys.executable, *command], cwd=ROOT, env=env, check=True, timeout=600
            )
        await add_subscribers(database_url, n)
        print(f"[bench] database ready with {n} subscribers in {time.monotonic() - began:.1f} s", file=sys.stderr)

        if rasa_server is not None:
            load_s = await asyncio.to_thread(rasa_server.wait_ready)
            print(f"[bench] Rasa loaded in {load_s:.1f} s", file=sys.stderr)
            rasa_url = rasa_server.url
        bases = []
        for i in (1, 2):
            port = free_port()
            api_env = {**env, "GRIDTALK_API_PORT": str(port), "GRIDTALK_RASA_URL": rasa_url}
            procs.append(Proc(f"api{i}", ["api"], api_env, logs / f"api{i}.log"))
            bases.append(f"http://127.0.0.1:{port}")
        for i, bot_api_base in enumerate(fakes.base_urls, start=1):
            worker_env = {**env, "GRIDTALK_TELEGRAM_API_BASE": bot_api_base, "GRIDTALK_RASA_URL": rasa_url}
            procs.append(Proc(f"worker{i}", ["worker"], worker_env, logs / f"worker{i}.log"))
        for base, proc in zip(bases, procs[:2], strict=True):
            await wait_healthy(base, proc)
        await asyncio.sleep(3)  # the workers' first ticks (the demo's own due notices) before the fan-out

        async with httpx.AsyncClient(timeout=60) as client:
            token = (
                await client.post(f"{bases[0]}/api/v1/auth/token", data={"username": STAFF[0], "password": STAFF[1]})
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            done = asyncio.Event()
            load = asyncio.create_task(chat_load(bases, done, args.chat_seconds, args.concurrency))
            starts = datetime.now(UTC) + timedelta(hours=3)
            outage = {
                "kind": "planned",
                "areas": [],
                "feeders": [FEEDER],
                "accounts": [],
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=4)).isoformat(),
                "reason": "线路检修（压测）",
                "contact": "95598",
            }
            published_at = time.monotonic()
            created = await client.post(f"{bases[1]}/api/v1/outages?publish=true", json=outage, headers=headers)
            created.raise_for_status()
            outage_id = created.json()["id"]

            deadline = time.monotonic() + n / cap * 3 + 120
            while await asyncio.to_thread(fakes.ask, "count") < n and time.monotonic() < deadline:
                if any(p.proc.poll() is not None for p in procs):
                    raise SystemExit("a process died:\n" + "\n".join(p.tail() for p in procs))
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # anything sent twice would come now
            done.set()
            chat = await load
            calls: list[list[Send]] = await asyncio.to_thread(fakes.ask, "calls")
            ok = [[c for c in server if c[3]] for server in calls]
            sends = [[c for c in server if (c[0] or 0) >= CHAT_BASE] for server in ok]
            fanout_s = max((c[1] for s in sends for c in s), default=published_at) - published_at
            deliveries = (await client.get(f"{bases[0]}/api/v1/outages/{outage_id}/deliveries", headers=headers)).json()
        chats = Counter(c[0] for s in sends for c in s)
        every_send = [c[1] for server in ok for c in server]
        return {
            "subscribers": n,
            "cap_per_s": cap,
            "sent_by_worker": {"worker1": len(sends[0]), "worker2": len(sends[1])},
            "subscribers_told": len(chats),
            "sent_twice": sum(1 for count in chats.values() if count > 1),
            "max_sends_per_clock_second": max_per_clock_second(every_send),
            "max_sends_in_any_1s_window": max_in_one_second(every_send),
            "answered_429": sum(1 for server in calls for c in server if c[2] == 429),
            "fanout_s": round(fanout_s, 1),
            "fanout_rate_per_s": round(len(chats) / fanout_s, 1) if fanout_s > 0 else None,
            "delivery_counts": deliveries.get("counts"),
            "chat": chat,
        }
    finally:
        for proc in procs:
            proc.stop()
        fakes.close()
        if rasa_server is not None:
            rasa_server.stop()
        if not args.keep:
            await drop_database()


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    sent = result["sent_by_worker"]
    chat = result["chat"]
    rows = [
        ("subscribers (one notice each)", result["subscribers"], ""),
        ("sent by worker 1", sent["worker1"], "> 0"),
        ("sent by worker 2", sent["worker2"], "> 0"),
        ("subscribers told", result["subscribers_told"], f"= {result['subscribers']}"),
        ("told twice", result["sent_twice"], "= 0"),
        ("most sends in one clock second (both)", result["max_sends_per_clock_second"], f"≤ {result['cap_per_s']:g}"),
        ("most sends in any 1 s window (both)", result["max_sends_in_any_1s_window"], "(sliding: send-time jitter)"),
        ("answered 429", result["answered_429"], "= 0"),
        ("fan-out: publish → last send (s)", result["fanout_s"], ""),
        ("fan-out rate (/s)", result["fanout_rate_per_s"], f"cap {result['cap_per_s']:g}"),
        ("deliveries by status (API)", result["delivery_counts"], ""),
        ("chat turns/s through both apis", chat["turns_per_s"], ""),
        ("chat p50 / p99 (ms)", f"{chat['p50_ms']} / {chat['p99_ms']}", ""),
        ("chat errors", chat["errors"], "= 0"),
        ("chat statuses by api", chat["status_by_api"], ""),
    ]
    print(f"\nScale-out: 2 apis + 2 workers, PostgreSQL + Redis ({'quick' if args.quick else 'full'})")
    for label, value, goal in rows:
        print(f"{label:40s} {value!s:>24s}  {goal}")
    met = (
        sent["worker1"] > 0
        and sent["worker2"] > 0
        and result["subscribers_told"] == result["subscribers"]
        and result["sent_twice"] == 0
        and result["max_sends_per_clock_second"] <= result["cap_per_s"]
        and chat["errors"] == 0
    )
    print(f"goals: {'met' if met else 'NOT met'}")
    out = ROOT / "reports" / "bench" / "scaleout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"quick": args.quick, **result}, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 subscribers at 100/s, a fake NLU server")
    parser.add_argument("--subscribers", type=int, default=None, help="default 3000 (quick 400)")
    parser.add_argument("--rate", type=float, default=None, help="GRIDTALK_NOTICE_RATE_LIMIT (default 200, quick 100)")
    parser.add_argument("--chat-seconds", type=float, default=10.0, help="the chat load runs at least this long")
    parser.add_argument("--concurrency", type=int, default=6, help="web chat customers at once")
    parser.add_argument("--batch", type=int, default=None, help="GRIDTALK_NOTICE_BATCH_SIZE (default 500, quick 50)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--rasa-url", help="a running Rasa server to use instead of starting one (or the fake)")
    args = parser.parse_args()
    args.subscribers = args.subscribers or (400 if args.quick else 3000)
    args.rate = args.rate or (100.0 if args.quick else 200.0)
    args.batch = args.batch or (50 if args.quick else 500)
    background = Background()
    try:
        result = asyncio.run(run(args, background))
    finally:
        background.close()
    report(result, args)


if __name__ == "__main__":
    main()
