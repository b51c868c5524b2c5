"""Notice fan-out benchmark: the outbox dispatcher on PostgreSQL sending to a fake Telegram Bot API server on
127.0.0.1 (tests/fakes/telegram_api.py, in a process of its own sharing the machine's cores, as in
../shared/PERF-NOTES.md), side by side with a bare aiogram send loop in the same run.

Runs, in order, each on a fresh outbox of deliveries (one per chat), all due now:
  bare-aiogram  `bot.send_message` in a loop at the dispatcher's concurrency, no database: the yardstick
  uncapped-1    the dispatcher with the limiter opened wide: what one worker can do on this machine
  capped-1000   the dispatcher at Telegram's highest cap (1000 messages/s, paid broadcast)
  capped-30     the dispatcher with the product's default limiter (30/s) while the fake server ENFORCES 30/s
                (429 with retry_after=1 once 30 sends were answered within the last second)
  uncapped-2    two dispatchers sharing the outbox (FOR UPDATE SKIP LOCKED) in this one process: they split
                the rows and none goes twice
Every dispatcher run checks that each delivery was sent exactly once (the fake server counts the successful
sends per chat) and that every row ends 'sent'.

CPU per delivery is this process's CPU time (time.process_time: the dispatcher's process; the fake server and
PostgreSQL are other processes) over the run, divided by the deliveries.

Goals: the dispatcher at ≤ 350 µs CPU per delivery and ≥ 0.6 × the bare aiogram loop's rate (uncapped-1);
≥ 0.97 × the cap at 1000/s over 20 000 deliveries; zero 429s over 5 000 sends at the enforced 30/s cap; no
delivery sent twice, none lost.

Run: `.venv/bin/python bench/fanout.py` (20 000 deliveries a run, 5 000 at 30/s: about 4 minutes) or
`--quick` (2 000 and 300: under a minute), with GRIDTALK_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/bench_fanout) naming a scratch PostgreSQL database on this machine:
it is created if missing and its schema is dropped and rebuilt. `--only uncapped-1,capped-30` picks runs;
`--merge` keeps the other runs of the reports/bench/fanout.json already written (a run made again replaces its
own), so runs made by separate invocations end up in one report. One fan-out process at a time: they share the
scratch database. The table is printed and the figures written to reports/bench/fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiogram import Bot  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import LinkPreviewOptions  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.channel import TelegramChannel  # noqa: E402
from core.clock import FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from core.db.migrate import upgrade_async  # noqa: E402
from core.models import Area, Feeder, NoticeDelivery, Outage, OutageArea  # noqa: E402
from core.models.enums import DeliveryChannel, Language, Segment, Stage, Tier  # noqa: E402
from core.notices.dispatcher import Dispatcher  # noqa: E402
from core.notices.outbox import ContactKey, Recipient, Route, Subject  # noqa: E402
from core.notices.ratelimit import TelegramLimiter  # noqa: E402
from core.notices.render import NoticeRenderer  # noqa: E402
from core.notices.repository import OutboxRepository  # noqa: E402
from core.templating import Renderer  # noqa: E402
from gridtalk.cli import run_service  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_fanout"
MAX_ROWS = 200_000
CONCURRENCY = 100
BATCH = 500
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


async def create_database(url: str) -> None:
    """The scratch database, made if it does not exist yet."""
    target = make_url(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()


async def reset(url: str) -> None:
    await create_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
    await upgrade_async(url)


async def fill(url: str, rows: int) -> None:
    """An outage and `rows` pending Telegram deliveries due now, one per chat."""
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with session_scope(sessionmaker) as session:
            await session.execute(text("TRUNCATE notice_deliveries, outage_areas, outages, feeders, areas CASCADE"))
            session.add(Area(code="XH", name="西湖区", name_en="Xihu District"))
            await session.flush()
            session.add(Feeder(code="XH-F01", area_code="XH", name="文三线", lines="10kV 文三线"))
            outage = Outage(
                kind="planned",
                status="published",
                starts_at=NOW + timedelta(days=3),
                ends_at=NOW + timedelta(days=3, hours=6),
                reason="10kV线路检修",
                contact="95598",
                published_at=NOW,
                created_at=NOW,
                areas=[OutageArea(area_code="XH")],
            )
            session.add(outage)
            await session.flush()
            outage_id = outage.id
        drafts = [
            draft
            for i in range(rows)
            for draft in Recipient(
                key=ContactKey.identity(i),
                tier=Tier.EVERYONE,
                segment=Segment.RESIDENTIAL,
                language=Language.ZH if i % 7 else Language.EN,
                routes=(Route(DeliveryChannel.TELEGRAM, str(800_000_000 + i), 800_000_000 + i),),
            ).drafts(Subject.outage(outage_id), Stage.INITIAL, due_at=NOW, release_at=NOW)
        ]
        async with session_scope(sessionmaker) as session:
            await OutboxRepository(session).store(drafts, NOW)
    finally:
        await engine.dispose()


class FakeApiProcess:
    """The fake Bot API server in a child process, driven over a pipe: reset, cap N, counts, sample."""

    def __init__(self) -> None:
        self.parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)

    def __enter__(self) -> FakeApiProcess:
        self.process.start()
        self.base_url = str(self.parent.recv())
        return self

    def ask(self, command: str) -> Any:
        self.parent.send(command)
        return self.parent.recv()

    def __exit__(self, *_exc: object) -> None:
        self.parent.send("stop")
        self.process.join(10)


def _serve(conn: Any) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        async with FakeTelegramApi() as api:
            conn.send(api.base_url)
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command == "stop":
                    return
                if command == "reset":
                    api.calls.clear()
                    api.rate_cap = None
                    conn.send(True)
                elif command.startswith("cap "):
                    api.rate_cap = int(command.split()[1])
                    conn.send(True)
                elif command == "counts":
                    sent = Counter(c.chat_id for c in api.calls if c.method == "sendMessage" and c.status == 200)
                    refused = Counter(c.status for c in api.calls if c.status != 200)
                    conn.send({"per_chat": dict(sent), "refused": dict(refused)})
                elif command == "sample":
                    conn.send(next((c.text for c in api.calls if c.method == "sendMessage"), "停电通知"))

    asyncio.run(serve())


def bench_settings(url: str, api: FakeApiProcess, rate: float) -> Settings:
    return Settings(
        database_url=url,
        env="test",
        telegram_token="1:bench",
        telegram_api_base=api.base_url,
        notice_rate_limit=rate,
        notice_allow_paid_broadcast=rate > 30,
        notice_chat_interval=1.0,
        notice_concurrency=CONCURRENCY,
        notice_batch_size=BATCH,
    )


def figures(
    name: str, rows: int, seconds: float, cpu: float, cap: float | None, counts: dict[str, Any]
) -> dict[str, Any]:
    per_chat: dict[int, int] = counts["per_chat"]
    return {
        "name": name,
        "rate_cap": cap,
        "deliveries": rows,
        "seconds": round(seconds, 2),
        "per_second": round(rows / seconds, 1),
        "cpu_us_per_delivery": round(cpu / rows * 1e6),
        "ratio_to_cap": round(rows / seconds / cap, 3) if cap else None,
        "answers_429": int(counts["refused"].get(429, 0)),
        "refused": counts["refused"],
        "sends": sum(per_chat.values()),
        "sent_twice": sum(1 for n in per_chat.values() if n > 1),
    }


async def bare_aiogram(api: FakeApiProcess, rows: int) -> dict[str, Any]:
    """aiogram's own send loop, no database: the same text, concurrency and fake server as the dispatcher."""
    text_ = api.ask("sample")
    api.ask("reset")
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url), limit=max(100, CONCURRENCY))
    bot = Bot(token="1:bench", session=session)
    chats = iter(range(900_000_000, 900_000_000 + rows))
    preview = LinkPreviewOptions(is_disabled=True)

    async def loop() -> None:
        for chat in chats:
            await bot.send_message(chat, text_, parse_mode="HTML", link_preview_options=preview)

    try:
        await bot.send_message(899_999_999, text_, parse_mode="HTML")  # the connection and aiogram's caches warm
        api.ask("reset")
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await bot.session.close()
    result = figures("bare-aiogram", rows, seconds, cpu, None, api.ask("counts"))
    result["ok"] = result["sends"] == rows and result["sent_twice"] == 0
    return result


async def run(
    name: str,
    url: str,
    rows: int,
    api: FakeApiProcess,
    renderer: NoticeRenderer,
    *,
    workers: int,
    rate: float | None,
    enforce: bool = False,
) -> dict[str, Any]:
    """The dispatcher(s) on a fresh outbox; rate None: the limiter opened wide; enforce: the fake server refuses
    more than `rate` sends in any second (and the dispatcher runs the product's default limiter). The renderer
    is the run's one (a worker has one, its templates compiled once)."""
    await fill(url, rows)
    api.ask("reset")
    if enforce:
        assert rate is not None
        api.ask(f"cap {int(rate)}")
    settings = bench_settings(url, api, min(rate or 1000, 1000))
    engine = make_engine(url, pool_size=10)
    sessionmaker = make_sessionmaker(engine)
    clock = FrozenClock(NOW)
    async with engine.connect() as conn:  # a worker's pool is connected after its first tick
        await conn.execute(text("SELECT 1"))
    dispatchers = [
        Dispatcher(
            sessionmaker,
            clock,
            settings,
            {"telegram": TelegramChannel.from_settings(settings)},
            renderer,
            limiter=None if rate else TelegramLimiter(1e9, settings.notice_chat_interval),
        )
        for _ in range(workers)
    ]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        handled = await asyncio.gather(*(d.run_once() for d in dispatchers))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        async with sessionmaker() as session:
            statuses = dict(
                (
                    await session.execute(select(NoticeDelivery.status, func.count()).group_by(NoticeDelivery.status))
                ).all()
            )
    finally:
        for d in dispatchers:
            await d.aclose()
        await engine.dispose()
    result = figures(name, rows, seconds, cpu, rate, api.ask("counts"))
    result.update(workers=workers, handled_per_worker=handled, statuses=statuses, enforced=enforce)
    result["ok"] = statuses == {"sent": rows} and result["sends"] == rows and result["sent_twice"] == 0
    return result


def table(runs: list[dict[str, Any]]) -> str:
    bare = next((r["per_second"] for r in runs if r["name"] == "bare-aiogram"), None)
    lines = [
        f"{'run':<13} {'deliveries':>10} {'seconds':>8} {'rate/s':>8} {'CPU µs':>7} {'×cap':>6} {'×bare':>6} "
        f"{'429s':>5} {'twice':>5}  ok",
    ]
    for r in runs:
        r["ratio_to_bare"] = round(r["per_second"] / bare, 2) if bare and r["name"] != "bare-aiogram" else None
        cap = f"{r['ratio_to_cap']:.3f}" if r["ratio_to_cap"] else "-"
        to_bare = f"{r['ratio_to_bare']:.2f}" if r["ratio_to_bare"] else "-"
        lines.append(
            f"{r['name']:<13} {r['deliveries']:>10} {r['seconds']:>8.2f} {r['per_second']:>8.1f} "
            f"{r['cpu_us_per_delivery']:>7} {cap:>6} {to_bare:>6} {r['answers_429']:>5} {r['sent_twice']:>5}  "
            + ("ok" if r["ok"] else "NOT OK " + json.dumps(r.get("statuses", {})))
        )
    return "\n".join(lines)


RUNS = ("uncapped-1", "bare-aiogram", "capped-1000", "capped-30", "uncapped-2")
OUT = ROOT / "reports" / "bench" / "fanout.json"


def merged(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """--merge: these runs, and the runs of the report already written that were not made again (by name)."""
    made = {r["name"] for r in runs}
    earlier = json.loads(OUT.read_text())["runs"] if OUT.exists() else []
    return [r for r in earlier if r["name"] not in made] + runs


async def main(rows: int, rows_30: int, url: str, only: set[str], merge: bool) -> int:
    host = make_url(url).host or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"refusing {host!r}: the benchmark drops the schema of a scratch database on this machine only")
        return 2
    logging.basicConfig(level=logging.ERROR)
    await reset(url)
    runs: list[dict[str, Any]] = []
    renderer = NoticeRenderer(Renderer(Settings(database_url=url, env="test").timezone))
    with FakeApiProcess() as api:
        for name in RUNS:
            if name not in only:
                continue
            if name == "bare-aiogram":
                runs.append(await bare_aiogram(api, rows))
            elif name == "uncapped-1":
                runs.append(await run(name, url, rows, api, renderer, workers=1, rate=None))
            elif name == "capped-1000":
                runs.append(await run(name, url, rows, api, renderer, workers=1, rate=1000.0))
            elif name == "capped-30":
                runs.append(await run(name, url, rows_30, api, renderer, workers=1, rate=30.0, enforce=True))
            elif name == "uncapped-2":
                runs.append(await run(name, url, rows, api, renderer, workers=2, rate=None))
            print(f"  {name}: {runs[-1]['per_second']}/s", flush=True)
    ok = all(r["ok"] for r in runs)
    if merge:
        runs = merged(runs)
    order = {name: i for i, name in enumerate(("bare-aiogram", *RUNS))}
    runs.sort(key=lambda r: order[r["name"]])
    print(table(runs))
    report = {
        "benchmark": "notice fan-out",
        "database": make_url(url).render_as_string(hide_password=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "batch_size": BATCH,
        "concurrency": CONCURRENCY,
        "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {OUT.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help=f"deliveries per run (at most {MAX_ROWS})")
    parser.add_argument("--rows-30", type=int, default=None, help="deliveries of the run at the enforced 30/s cap")
    parser.add_argument("--quick", action="store_true", help="2 000 deliveries a run, 300 at 30/s")
    parser.add_argument("--only", default=",".join(RUNS), help="runs to make, comma-separated")
    parser.add_argument("--merge", action="store_true", help="keep the other runs of the fanout.json already written")
    args = parser.parse_args()
    rows = args.rows or (2_000 if args.quick else 20_000)
    rows_30 = args.rows_30 or (300 if args.quick else 5_000)
    if not 1 <= rows <= MAX_ROWS or not 1 <= rows_30 <= MAX_ROWS:
        parser.error(f"--rows and --rows-30 must be between 1 and {MAX_ROWS}")
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(RUNS):
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    url = os.environ.get("GRIDTALK_BENCH_DATABASE_URL", DEFAULT_URL)
    # on the event loop `gridtalk worker` runs on (uvloop)
    sys.exit(run_service(main(rows, rows_30, url, only, args.merge)))
