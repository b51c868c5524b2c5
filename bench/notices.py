"""Notice dispatcher benchmark: throughput of the outbox dispatcher on PostgreSQL, sending through a fake
Telegram Bot API server on 127.0.0.1 (tests/fakes/telegram_api.py, in a process of its own sharing the
machine's cores, as in ../shared/PERF-NOTES.md).

Runs, each on a fresh outbox of --rows deliveries (one per chat), all due now:
  capped-1000   the real dispatcher at Telegram's highest cap (1000 messages/s, paid broadcast)
  uncapped-1    the same pipeline with the limiter opened wide: what one worker can do on this machine
  uncapped-2    two dispatchers sharing the outbox (FOR UPDATE SKIP LOCKED), in this one process (one
                core between them): the point is that they split the rows and none goes twice
Every run checks that each delivery was sent exactly once.

Run: `.venv/bin/python bench/notices.py [--rows 20000]` with GRIDTALK_BENCH_DATABASE_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/bench) naming a scratch PostgreSQL database on this machine:
its schema is dropped and rebuilt. Figures are printed and written to reports/bench/notices.json.
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
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
MAX_ROWS = 200_000
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
    """The fake Bot API server in a child process; asked over a pipe how many sends each chat got."""

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
                    conn.send(True)
                elif command == "counts":
                    conn.send(dict(Counter(c.chat_id for c in api.calls if c.method == "sendMessage")))

    asyncio.run(serve())


async def run(
    name: str, url: str, rows: int, api: FakeApiProcess, *, workers: int, rate: float | None
) -> dict[str, Any]:
    await fill(url, rows)
    api.ask("reset")
    settings = Settings(
        database_url=url,
        env="test",
        telegram_token="1:bench",
        telegram_api_base=api.base_url,
        notice_rate_limit=min(rate or 1000, 1000),
        notice_allow_paid_broadcast=True,
        notice_chat_interval=1.0,
        notice_concurrency=100,
        notice_batch_size=500,
    )
    engine = make_engine(url, pool_size=10)
    sessionmaker = make_sessionmaker(engine)
    clock = FrozenClock(NOW)
    renderer = NoticeRenderer(Renderer(settings.timezone))
    dispatchers = [
        Dispatcher(
            sessionmaker,
            clock,
            settings,
            {"telegram": TelegramChannel.from_settings(settings)},
            renderer,
            limiter=TelegramLimiter(rate or 1e9, settings.notice_chat_interval),
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
    per_chat: dict[int, int] = api.ask("counts")
    result = {
        "name": name,
        "workers": workers,
        "rate_cap": rate,
        "rows": rows,
        "seconds": round(seconds, 2),
        "per_second": round(rows / seconds, 1),
        "cpu_us_per_delivery": round(cpu / rows * 1e6),
        "handled_per_worker": handled,
        "statuses": statuses,
        "sends": sum(per_chat.values()),
        "sent_twice": sum(1 for n in per_chat.values() if n > 1),
    }
    ok = statuses == {"sent": rows} and result["sends"] == rows and result["sent_twice"] == 0
    result["ok"] = ok
    verdict = "ok" if ok else "NOT OK: " + json.dumps(statuses)
    print(
        f"{name:<13} workers={workers} cap={rate or '-':>5}  {rows} deliveries in {seconds:6.2f} s "
        f"= {rows / seconds:8.1f}/s  {cpu / rows * 1e6:4.0f} µs CPU each  per worker {handled}  {verdict}"
    )
    return result


async def main(rows: int, url: str) -> int:
    host = make_url(url).host or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"refusing {host!r}: the benchmark drops the schema of a scratch database on this machine only")
        return 2
    logging.basicConfig(level=logging.WARNING)
    await reset(url)
    with FakeApiProcess() as api:
        runs = [
            await run("capped-1000", url, rows, api, workers=1, rate=1000.0),
            await run("uncapped-1", url, rows, api, workers=1, rate=None),
            await run("uncapped-2", url, rows, api, workers=2, rate=None),
        ]
    report = {
        "benchmark": "notice dispatcher",
        "database": make_url(url).render_as_string(hide_password=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "batch_size": 500,
        "concurrency": 100,
        "runs": runs,
    }
    out = ROOT / "reports" / "bench" / "notices.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help=f"deliveries per run (at most {MAX_ROWS})")
    args = parser.parse_args()
    if not 1 <= args.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS}")
    url = os.environ.get("GRIDTALK_BENCH_DATABASE_URL", DEFAULT_URL)
    sys.exit(asyncio.run(main(args.rows, url)))
