"""Sizing past one machine: the dispatcher's outbox path draining a storm's million notices with several
workers and several bots, under a simulated clock (no real sends), for docs/SCALE.md.

It makes a scratch PostgreSQL database `bench_sizing` on the server GRIDTALK_BENCH_DATABASE_URL names (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), migrates it (`alembic upgrade head`) and fills it with
INSERT ... SELECT generate_series: one published fault outage and --rows due Telegram deliveries of its
'initial' notice (one per chat, everyone's tier, 1 in 10 in English), all claimable at the start (the fill's
time is printed; it is not a figure of the product).

Then --workers workers drain it, each an asyncio task with its own engine and sessions (as separate worker
processes sharing the table: the claims are FOR UPDATE SKIP LOCKED): each claims --batch rows
(QueueRepository.claim), "sends" them — each row's bot is a stable hash of its chat among --bots bots — and
records them sent (QueueRepository.record), claim and record each committed, until nothing is left.

The sends are paced by the dispatcher's own TelegramLimiter, one per bot, on a simulated monotonic clock per
bot (sleeping moves it on at once: no real waiting, no HTTP), twice over in the same drain:
- at 30 messages/s per bot (Telegram's default cap), and
- at 1 000 messages/s per bot (paid broadcast, GRIDTALK_NOTICE_ALLOW_PAID_BROADCAST).
A worker's batch goes out from the worker's simulated time (the end of its previous batch) on each bot's line
(a row waits for its bot's line as well), and the worker claims again when the last row of its batch has gone
(lockstep, no pipelining: a little slower than the dispatcher's pipeline). The database takes no simulated
time: its real time is measured apart, and the drain's real rows/s is the rate the bookkeeping would sustain,
to be compared with the bots' total rate.

Printed: simulated minutes to drain at each pacing, the sustained send rate, the real seconds of bookkeeping
(claim + record, each with its commit; and the whole drain's wall time), the rows/s the database sustained,
deliveries sent twice (by the workers' own lists and by the table: attempts > 1, status not 'sent'), and each
worker's and each bot's share. Goals: every row sent exactly once; the database's rows/s at least twice the bots'
total rate at paid broadcast, so that the bots, not the database, bound the drain, with room left for the rest
of a storm's load (chats, the console) on the same primary.

Before the drain it times one claim's row selection with every row due, without the claim index (a Sort of
every due row, as before migration 0014) and with it (ix_notice_deliveries_queue, QUEUE_INDEX below: dropped
and built again in the scratch database); the drain runs with that index (--without-index: without it,
O(due rows) per claim: slow).

Run: `.venv/bin/python bench/sizing.py` (1 000 000 rows, 4 workers, 4 bots; 1-2 minutes here),
`--quick` (50 000 rows, < 1 minute) while developing; --rows, --workers, --bots, --batch change the sizes,
--keep keeps the database. Writes reports/bench/sizing.json (--tag T: sizing-T.json, for a variant's run).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import SimulatedTime, admin, refuses_remote, scratch_url  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.db.migrate import upgrade_async  # noqa: E402
from core.models.enums import DeliveryChannel, DeliveryStatus  # noqa: E402
from core.notices.queue_repository import QueueRepository  # noqa: E402
from core.notices.ratelimit import TelegramLimiter  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_sizing"
START = datetime(2026, 7, 15, 6, 0, tzinfo=UTC)  # a storm's morning (14:00 in Asia/Shanghai)
LEASE = timedelta(minutes=5)
CHAT_INTERVAL = 1.0  # Telegram: one message a second to one chat
PACINGS = {"standard": 30.0, "paid": 1000.0}  # messages a second per bot
GOAL_HEADROOM = 2.0  # the database's rows/s over the bots' total rate at paid broadcast

FILL = """
INSERT INTO staff_users (username, password_hash, role, display_name, is_active, created_at)
VALUES ('bench.admin', '-', 'admin', 'Bench', true, {start});
INSERT INTO outages (id, kind, status, starts_at, ends_at, estimated_restoration_at, reason, contact,
                     created_by_id, published_at, created_at)
VALUES (1, 'unplanned', 'published', {start}, {start} + interval '6 hours', {start} + interval '6 hours',
        '台风', '95598', (SELECT min(id) FROM staff_users), {start}, {start});
SELECT setval('outages_id_seq', 1);
INSERT INTO notice_deliveries (subject_kind, subject_id, tier, outage_id, contact_key, segment, stage, revision,
                               channel, address, telegram_chat_id, language, priority, due_at, status, attempts,
                               next_attempt_at, created_at)
SELECT 'outage', 1, 3, 1, 'identity:' || g, 'residential', 'initial', 0, 'telegram', (1000000000 + g)::text,
       1000000000 + g, CASE WHEN g % 10 = 0 THEN 'en' ELSE 'zh' END, 0, {start}, 'pending', 0, {start}, {start}
FROM generate_series(1, {rows}) g
"""


# The claim's index (migration 0014): its ORDER BY, on the claimable rows only, so a claim reads the first
# `batch` entries instead of sorting every due row (without it, a claim sorts all of them: O(due rows)).
QUEUE_INDEX = (
    "CREATE INDEX ix_notice_deliveries_queue ON notice_deliveries (tier, priority DESC, due_at, id) "
    "WHERE status IN ('pending', 'sending')"
)
CLAIM_SQL = (
    "SELECT id FROM notice_deliveries WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now "
    "AND channel IN ('telegram') ORDER BY tier, priority DESC, due_at, id LIMIT :batch FOR UPDATE SKIP LOCKED"
)


def bot_of(chat: int, bots: int) -> int:
    """The bot that serves a chat: a stable hash of the chat id (the same in every process and run; not CRC-32,
    whose remainders over consecutive ids come out exactly even, as real chat ids would not)."""
    digest = hashlib.blake2b(chat.to_bytes(8, "big", signed=True), digest_size=8).digest()
    return int.from_bytes(digest, "big") % bots


# --------------------------------------------------------------------------------------------- the database
async def fill(url: str, rows: int) -> dict[str, float]:
    engine = make_engine(url)
    took = {}
    try:
        began = time.perf_counter()
        async with engine.begin() as conn:
            # generated consistent: no foreign-key trigger per row (the fill is not a figure of the product)
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in FILL.format(start=f"'{START.isoformat()}'::timestamptz", rows=rows).split(";"):
                await conn.execute(text(statement))
        took["insert"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE notice_deliveries"))
        took["vacuum analyze"] = round(time.perf_counter() - began, 1)
    finally:
        await engine.dispose()
    return took


async def sizes(url: str) -> dict[str, int]:
    """notice_deliveries on disk: the heap and all its indexes, in bytes."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            heap, indexes = (
                await conn.execute(
                    text("SELECT pg_table_size('notice_deliveries'), pg_indexes_size('notice_deliveries')")
                )
            ).one()
        return {"table_bytes": int(heap), "indexes_bytes": int(indexes)}
    finally:
        await engine.dispose()


async def claim_plan(url: str, batch: int, runs: int = 3) -> dict[str, Any]:
    """The claim's row selection (QueueRepository.claim's locking subquery) with every row due: EXPLAIN
    ANALYZE, each in a transaction rolled back; the best of `runs` and the plan's nodes."""
    engine = make_engine(url)
    times: list[float] = []
    nodes: list[str] = []
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                raw = (
                    await conn.execute(
                        text(f"EXPLAIN (ANALYZE, FORMAT JSON) {CLAIM_SQL}"),
                        {"now": START + timedelta(hours=1), "batch": batch},
                    )
                ).scalar_one()
                await conn.rollback()
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
            times.append(plan["Execution Time"])
            nodes = []
            node = plan["Plan"]
            while node:
                nodes.append(node["Node Type"] + (f" {node['Index Name']}" if node.get("Index Name") else ""))
                if node["Node Type"] == "Sort":
                    nodes[-1] += f" ({node.get('Sort Method', '')})"
                node = (node.get("Plans") or [None])[0]
    finally:
        await engine.dispose()
    return {"best_ms": round(min(times), 2), "ms": [round(t, 2) for t in times], "plan": nodes}


async def drop_queue_index(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DROP INDEX IF EXISTS ix_notice_deliveries_queue"))
            await conn.execute(text("ANALYZE notice_deliveries"))
    finally:
        await engine.dispose()


async def add_queue_index(url: str) -> float:
    engine = make_engine(url)
    try:
        began = time.perf_counter()
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(QUEUE_INDEX))
            await conn.execute(text("ANALYZE notice_deliveries"))
        return round(time.perf_counter() - began, 1)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------- the simulation
@dataclass
class Line:
    """One bot at one pacing: its limiter on its own simulated clock."""

    rate: float
    clock: SimulatedTime = field(default_factory=SimulatedTime)
    limiter: TelegramLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = TelegramLimiter(self.rate, CHAT_INTERVAL, monotonic=self.clock.monotonic, sleep=self.clock.sleep)

    async def send_at(self, chat: int, ready: float) -> float:
        """When a message to `chat`, ready at simulated time `ready`, goes on this bot's line."""
        self.clock.now = max(self.clock.now, ready)
        await self.limiter.acquire(chat)
        return self.clock.now


@dataclass
class WorkerFigures:
    claims: int = 0
    rows: int = 0
    claim_seconds: float = 0.0  # real: claim + commit
    record_seconds: float = 0.0  # real: record + commit
    sent_ids: list[int] = field(default_factory=list)
    claim_times: list[float] = field(default_factory=list)  # real seconds of each claim + commit, in order
    record_times: list[float] = field(default_factory=list)
    simulated: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PACINGS, 0.0))


async def worker(
    url: str, batch: int, bots: int, lines: dict[str, list[Line]], figures: WorkerFigures, per_bot: Counter[int]
) -> None:
    """One worker process's outbox loop: claim a batch, send each row on its bot's line (both pacings),
    record the lot, until nothing is due."""
    engine = make_engine(url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    channels = [DeliveryChannel.TELEGRAM]
    try:
        while True:
            now = START + timedelta(seconds=figures.simulated["standard"])
            token = uuid.uuid4().hex
            began = time.perf_counter()
            async with sessionmaker() as session:
                rows = await QueueRepository(session).claim(now, batch, channels, now + LEASE, token)
                claimed = [(r.id, r.telegram_chat_id, r.attempts) for r in rows]
                await session.commit()
            figures.claim_seconds += time.perf_counter() - began
            figures.claim_times.append(time.perf_counter() - began)
            if not claimed:
                return
            figures.claims += 1
            ends = dict(figures.simulated)
            results = []
            for ident, chat, attempts in claimed:
                assert chat is not None
                bot = bot_of(chat, bots)
                per_bot[bot] += 1
                for pacing, bot_lines in lines.items():
                    at = await bot_lines[bot].send_at(chat, figures.simulated[pacing])
                    ends[pacing] = max(ends[pacing], at)
                    if pacing == "standard":
                        sent_at = START + timedelta(seconds=at)
                results.append(
                    {
                        "b_id": ident,
                        "b_token": token,
                        "b_status": DeliveryStatus.SENT,
                        "b_next": None,
                        "b_sent": sent_at,
                        "b_error": None,
                        "b_attempts": attempts,
                    }
                )
                figures.sent_ids.append(ident)
            figures.simulated = ends  # the batch is out: the worker claims again
            began = time.perf_counter()
            async with sessionmaker() as session:
                await QueueRepository(session).record(results)
                await session.commit()
            figures.record_seconds += time.perf_counter() - began
            figures.record_times.append(time.perf_counter() - began)
            figures.rows += len(claimed)
    finally:
        await engine.dispose()


def ms_median(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 1) if seconds else None


async def drain(url: str, workers: int, bots: int, batch: int) -> dict[str, Any]:
    lines = {pacing: [Line(rate) for _ in range(bots)] for pacing, rate in PACINGS.items()}
    figures = [WorkerFigures() for _ in range(workers)]
    per_bot: Counter[int] = Counter()
    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(url, batch, bots, lines, f, per_bot) for f in figures))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    ids = [i for f in figures for i in f.sent_ids]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            statuses: dict[Any, Any] = dict(
                (await conn.execute(text("SELECT status, count(*) FROM notice_deliveries GROUP BY 1"))).all()
            )
            again = int(await conn.scalar(text("SELECT count(*) FROM notice_deliveries WHERE attempts > 1")) or 0)
    finally:
        await engine.dispose()
    rows = len(ids)
    simulated = {}
    for pacing, rate in PACINGS.items():
        last = max(line.clock.now for line in lines[pacing])
        simulated[pacing] = {
            "rate_per_bot": rate,
            "bots": bots,
            "cap_total_per_s": rate * bots,
            "seconds": round(last, 1),
            "minutes": round(last / 60, 2),
            "sustained_per_s": round(rows / last, 1) if last else None,
            "of_cap": round(rows / last / (rate * bots), 3) if last else None,
            "arithmetic_minutes": round(rows / (rate * bots) / 60, 2),
            "per_bot_last_seconds": [round(line.clock.now, 1) for line in lines[pacing]],
        }
    claim_s = sum(f.claim_seconds for f in figures)
    record_s = sum(f.record_seconds for f in figures)
    tenth = max(1, min(len(f.claim_times) for f in figures) // 10)
    return {
        "claim_ms_p50_first_tenth": ms_median([t for f in figures for t in f.claim_times[:tenth]]),
        "claim_ms_p50_last_tenth": ms_median([t for f in figures for t in f.claim_times[-tenth - 1 : -1]]),
        "claim_ms_p50": ms_median([t for f in figures for t in f.claim_times]),
        "record_ms_p50": ms_median([t for f in figures for t in f.record_times]),
        "rows": rows,
        "workers": workers,
        "bots": bots,
        "batch": batch,
        "simulated": simulated,
        "wall_seconds": round(wall, 1),
        "client_cpu_seconds": round(cpu, 1),
        "claim_seconds_summed": round(claim_s, 1),
        "record_seconds_summed": round(record_s, 1),
        "bookkeeping_seconds_per_worker": round((claim_s + record_s) / workers, 1),
        "rows_per_s": round(rows / wall, 0),
        "rows_per_s_bookkeeping_only": round(rows / ((claim_s + record_s) / workers), 0),
        "sent_twice": rows - len(set(ids)),
        "attempts_above_one": again,
        "statuses": {str(k): int(v) for k, v in statuses.items()},
        "claims": sum(f.claims for f in figures),
        "per_worker": [f.rows for f in figures],
        "per_worker_share": [round(f.rows / rows, 3) if rows else 0 for f in figures],
        "per_bot": [per_bot[b] for b in range(bots)],
        "per_bot_share": [round(per_bot[b] / rows, 4) if rows else 0 for b in range(bots)],
    }


# ---------------------------------------------------------------------------------------------------- main
async def main(args: argparse.Namespace) -> int:
    url = os.environ.get("GRIDTALK_BENCH_DATABASE_URL", DEFAULT_URL)
    if refuses_remote(url):
        return 2
    scratch = scratch_url(url, DATABASE)
    total = time.perf_counter()
    await admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"')
    try:
        await upgrade_async(scratch)
        print(f"filling {DATABASE}: {args.rows} due deliveries ...", flush=True)
        took = await fill(scratch, args.rows)
        print(f"  {took} s (data generation: not a figure of the product)", flush=True)
        filled = await sizes(scratch)
        print(f"  on disk: {filled}", flush=True)
        await drop_queue_index(scratch)
        before = await claim_plan(scratch, args.batch)
        print(f"  one claim, without the claim index: {before['best_ms']} ms  {' > '.join(before['plan'])}", flush=True)
        index_s, after = None, None
        if not args.without_index:
            index_s = await add_queue_index(scratch)
            after = await claim_plan(scratch, args.batch)
            print(
                f"  the claim index built in {index_s} s; one claim: {after['best_ms']} ms  "
                f"{' > '.join(after['plan'])}",
                flush=True,
            )
        schema = "without the claim index" if args.without_index else "with the claim index"
        print(f"draining ({schema}): {args.workers} workers, {args.bots} bots, claims of {args.batch} ...", flush=True)
        result = await drain(scratch, args.workers, args.bots, args.batch)
        result["bytes_after_fill"] = filled
        result["bytes_after_drain"] = await sizes(scratch)
    finally:
        if args.keep:
            print(f'kept {DATABASE} (drop it with: DROP DATABASE "{DATABASE}")')
        else:
            await admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    std, paid = result["simulated"]["standard"], result["simulated"]["paid"]
    headroom = result["rows_per_s"] / paid["cap_total_per_s"]
    once = result["sent_twice"] == 0 and result["attempts_above_one"] == 0
    once = once and result["statuses"] == {"sent": args.rows}
    table = [
        ["what", "figure", "goal", "met?"],
        [
            f"drain at {PACINGS['standard']:.0f}/s × {args.bots} bots (simulated)",
            f"{std['minutes']} min ({std['sustained_per_s']}/s, {std['of_cap']:.1%} of the cap; "
            f"cap arithmetic {std['arithmetic_minutes']} min)",
            "",
            "—",
        ],
        [
            f"drain at {PACINGS['paid']:.0f}/s × {args.bots} bots (simulated)",
            f"{paid['minutes']} min ({paid['sustained_per_s']}/s, {paid['of_cap']:.1%} of the cap; "
            f"cap arithmetic {paid['arithmetic_minutes']} min)",
            "",
            "—",
        ],
        [
            f"one claim of {args.batch}, {args.rows} due: without / with the claim index",
            f"{before['best_ms']} ms / " + (f"{after['best_ms']} ms" if after else "(not built)"),
            "",
            "—",
        ],
        [
            f"database bookkeeping (real, {schema})",
            f"{result['wall_seconds']} s wall, claim {result['claim_seconds_summed']} s + record "
            f"{result['record_seconds_summed']} s summed over workers; client CPU {result['client_cpu_seconds']} s; "
            f"claim p50 {result['claim_ms_p50']} ms (first tenth {result['claim_ms_p50_first_tenth']}, last "
            f"{result['claim_ms_p50_last_tenth']}), record p50 {result['record_ms_p50']} ms",
            "",
            "—",
        ],
        [
            "rows/s the database sustained",
            f"{result['rows_per_s']:.0f}/s ({headroom:.1f}× the paid cap of {paid['cap_total_per_s']:.0f}/s)",
            f"≥ {GOAL_HEADROOM:.0f}×",
            "yes" if headroom >= GOAL_HEADROOM else "NO",
        ],
        [
            "sent twice / attempts > 1 / statuses",
            f"{result['sent_twice']} / {result['attempts_above_one']} / {result['statuses']}",
            f"0 / 0 / all {args.rows} sent",
            "yes" if once else "NO",
        ],
        ["per-worker shares", " ".join(f"{s:.1%}" for s in result["per_worker_share"]), "", "—"],
        ["per-bot shares", " ".join(f"{s:.2%}" for s in result["per_bot_share"]), "", "—"],
    ]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print()
    for r in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)))
    report = {
        "benchmark": "sizing: the outbox path at a storm's scale, several workers and bots, simulated clock",
        "database": make_url(scratch).render_as_string(hide_password=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "quick": args.quick,
        "fill_seconds": took,
        "schema": schema,
        "claim_without_index": before,
        "claim_index": {"ddl": QUEUE_INDEX, "build_seconds": index_s, "claim": after} if after else None,
        **result,
        "paid_headroom": round(headroom, 1),
        "table": [dict(zip(table[0], r, strict=True)) for r in table[1:]],
        "total_seconds": round(time.perf_counter() - total, 1),
    }
    out = ROOT / "reports" / "bench" / (f"sizing-{args.tag}.json" if args.tag else "sizing.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)} ({report['total_seconds']} s in all)")
    return 0 if once else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 000 rows")
    parser.add_argument("--rows", type=int, default=None, help="due deliveries (1 000-2 000 000; default 1 000 000)")
    parser.add_argument("--workers", type=int, default=4, help="workers sharing the outbox (1-16)")
    parser.add_argument("--bots", type=int, default=4, help="bots, each with its own cap (1-64)")
    parser.add_argument("--batch", type=int, default=500, help="deliveries claimed at once (1-5000)")
    parser.add_argument("--without-index", action="store_true", help="drain without the claim index (slow)")
    parser.add_argument("--tag", default="", help="write reports/bench/sizing-TAG.json instead (a variant's run)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (to look at it with psql)")
    args = parser.parse_args()
    if args.tag and not args.tag.replace("-", "").isalnum():
        parser.error("--tag: letters, digits and dashes")
    args.rows = args.rows or (50_000 if args.quick else 1_000_000)
    if not 1_000 <= args.rows <= 2_000_000:
        parser.error("--rows must be between 1000 and 2000000")
    if not 1 <= args.workers <= 16 or not 1 <= args.bots <= 64 or not 1 <= args.batch <= 5000:
        parser.error("--workers 1-16, --bots 1-64, --batch 1-5000")
    sys.exit(asyncio.run(main(args)))
