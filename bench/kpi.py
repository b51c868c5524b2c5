"""KPI dashboard benchmark: how long the dashboard's queries take on PostgreSQL at a million conversations.

It makes a scratch database of its own next to the one GRIDTALK_BENCH_DATABASE_URL names (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test → database `test_kpi_bench`), migrates it, fills it with
INSERT ... SELECT generate_series (no ORM objects): --conversations conversations (default 1 000 000) over the
60 weeks before the bench's "now", from 300 000 customers (2 % bound to 200 key accounts of 10 account managers),
with ~4 messages each (3 % are web sessions nobody wrote in; 8 % of parsed messages not understood), an
escalation for 1 in 7 (92 % answered within 30 s to 15 min), a survey for 1 in 3 (60 % answered) and 0.6
notice deliveries per conversation over 2 000 outages (5 % key accounts); then ANALYZE.

Then it times KpiService.dashboard — the real service, the real SQL — for an 8-week period (the default) and a
53-week one (the longest), for a supervisor (everything) and an account manager (their key accounts): a cold
run (a new connection pool: nothing prepared yet; the data was just written, so much of it is in PostgreSQL's
buffers) and --runs warm ones (p50 / max), each query's own time, and each query's EXPLAIN (ANALYZE) plan
summary (the scans: which table, which index). The database is dropped at the end.

Run: `.venv/bin/python bench/kpi.py [--conversations 1000000] [--runs 5]` (`make bench` runs it). Figures are
printed and written to reports/bench/kpi.json. `--keep` keeps the database; `--fill-only` makes and fills it,
keeps it and stops (no report); `--reuse` times the dashboard on a kept one of as many conversations whose fill
ran to its end (no fill; the report carries the fill's times, which the kept database holds; otherwise it is
filled anew).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.common import FILL_CARRIED, Recorder, admin, record_fill, recorded_fill, refuses_remote, scans  # noqa: E402
from core.clock import FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.db.migrate import upgrade_async  # noqa: E402
from core.feedback.reports import FeedbackReports, default_start  # noqa: E402
from core.feedback.repository import EVERYTHING, Scope  # noqa: E402
from core.kpis.dashboard import KpiService  # noqa: E402
from core.staff.audit import AuditService  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SPAN_DAYS = 420  # the conversations' 60 weeks
KEY_ACCOUNTS, MANAGERS, CUSTOMERS, OUTAGES = 200, 10, 300_000, 2_000
QUERIES = ("conversations", "handoffs", "csat", "messages", "deliveries")  # in the order the service runs them
SLOW_MS = 1000.0

# The data, as SQL statements (Python's format fills in the figures: our own integers and a fixed instant).
FILL = (
    (
        "staff and key accounts",
        """
        INSERT INTO staff_users (username, password_hash, role, display_name, is_active, created_at)
        SELECT 'manager.' || m, '-', 'account_manager', '', true, {now} FROM generate_series(1, {managers}) m;
        INSERT INTO areas (code, name, name_en) VALUES ('BN', '基准区', 'Bench');
        INSERT INTO feeders (code, area_code, name, lines) VALUES ('BN-F1', 'BN', '基准线', '');
        INSERT INTO tariffs (code, name, tier1_limit_kwh, tier2_limit_kwh, tier2_surcharge, tier3_surcharge,
                             peak_price, valley_price, peak_starts, valley_starts)
        VALUES ('BN', 'bench', 200, 400, 0.05, 0.3, 0.6, 0.3, '08:00', '22:00');
        INSERT INTO customers (name, segment, language, created_at)
        SELECT 'Key ' || k, 'key_account', 'zh', {now} FROM generate_series(1, {keys}) k;
        INSERT INTO utility_accounts (account_number, customer_id, address, area_code, feeder_code, phone,
                                      tariff_id, created_at)
        SELECT lpad(c.id::text, 10, '0'), c.id, '1 Grid Road', 'BN', 'BN-F1', '13800000000',
               (SELECT min(id) FROM tariffs), {now}
        FROM customers c;
        INSERT INTO key_account_profiles (account_id, account_manager_id, priority, category)
        SELECT a.id, (SELECT min(id) FROM staff_users) + a.id % {managers}, 1, '' FROM utility_accounts a
        """,
    ),
    (
        "customers",
        """
        INSERT INTO identities (channel, external_id, language, subscribed_notices, created_at)
        SELECT CASE WHEN i % 2 = 0 THEN 'web' ELSE 'telegram' END, 'bench-' || i, 'zh', false,
               {now} - interval '1 day' * {span}
        FROM generate_series(1, {customers}) i;
        INSERT INTO identity_accounts (identity_id, account_id, verified_at, is_current)
        SELECT i.id, 1 + (i.id / 50) % {keys}, i.created_at, true FROM identities i WHERE i.id % 50 = 0
        """,
    ),
    (
        "conversations",
        """
        INSERT INTO conversations (identity_id, channel, state, last_message_at, created_at)
        SELECT 1 + (g::bigint * 7919) % {customers}, 'web', 'closed', t, t
        FROM (SELECT g, {now} - interval '1 second' * floor(random() * 86400 * {span}) AS t
              FROM generate_series(1, {n}) g ORDER BY t) s
        """,
    ),
    (
        "messages",
        """
        INSERT INTO messages (conversation_id, channel, direction, text, payload, buttons, intent, confidence,
                              truncated, created_at)
        SELECT c.id, 'web', CASE WHEN k % 2 = 1 THEN 'in' ELSE 'out' END, '…',
               CASE WHEN k = 3 AND c.id % 2 = 0 THEN 'intent:bill_amount' END, '[]',
               CASE WHEN k % 2 = 1 AND random() < 0.08 THEN 'nlu_fallback' ELSE 'bill_amount' END,
               CASE WHEN k % 2 = 1 AND NOT (k = 3 AND c.id % 2 = 0) THEN 0.3 + random() * 0.7 END,
               false, c.created_at + interval '20 seconds' * k
        FROM conversations c CROSS JOIN generate_series(1, 4) k
        WHERE c.id % 33 <> 0
        ORDER BY c.id, k
        """,
    ),
    (
        "escalations",
        """
        INSERT INTO escalations (conversation_id, identity_id, account_id, reason, priority, state,
                                 first_response_at, created_at)
        SELECT c.id, c.identity_id, CASE WHEN c.identity_id % 50 = 0 THEN 1 + (c.identity_id / 50) % {keys} END,
               'human_handoff', 'normal', 'resolved',
               CASE WHEN random() < 0.92 THEN c.created_at + interval '1 second' * (30 + floor(random() * 870)) END,
               c.created_at + interval '90 seconds'
        FROM conversations c WHERE c.id % 7 = 0 AND c.id % 33 <> 0
        """,
    ),
    (
        "surveys",
        """
        INSERT INTO surveys (conversation_id, identity_id, account_id, channel, language, segment, intent,
                             trigger, sent_at, expires_at, answered_at, score, created_at)
        SELECT id, identity_id, account_id, 'web', 'zh', 'residential', 'bill_amount', 'resolved', sent,
               sent + interval '1 day', CASE WHEN score IS NOT NULL THEN sent + interval '5 minutes' END, score, sent
        FROM (
            SELECT c.id, c.identity_id, c.created_at + interval '30 minutes' AS sent,
                   CASE WHEN c.identity_id % 50 = 0 THEN 1 + (c.identity_id / 50) % {keys} END AS account_id,
                   CASE WHEN random() < 0.6 THEN 1 + floor(random() * 5)::int END AS score
            FROM conversations c WHERE c.id % 3 = 0 AND c.id % 33 <> 0
        ) s
        """,
    ),
    (
        "outages and deliveries",
        """
        INSERT INTO outages (kind, status, starts_at, ends_at, reason, contact, published_at, created_at)
        SELECT 'planned', 'completed', t, t + interval '4 hours', '检修', '95598', t - interval '16 days',
               t - interval '16 days'
        FROM (SELECT {now} - interval '1 second' * floor(random() * 86400 * {span}) AS t
              FROM generate_series(1, {outages})) s;
        INSERT INTO notice_deliveries (subject_kind, subject_id, tier, outage_id, contact_key, account_id, segment,
                                       stage, revision, channel, address, language, priority, due_at, status,
                                       attempts, sent_at, acked_at, created_at)
        SELECT 'outage', outage, CASE WHEN key THEN 2 ELSE 3 END, outage, 'identity:' || g,
               CASE WHEN key THEN 1 + g % {keys} END, CASE WHEN key THEN 'key_account' ELSE 'residential' END,
               stage, 0, 'telegram', '100', 'zh', 0, due, status, 1,
               CASE WHEN status IN ('sent', 'acked') THEN due END,
               CASE WHEN status = 'acked' THEN due + interval '3 minutes' END, due - interval '1 day'
        FROM (
            SELECT x.g, x.key, x.stage, o.id AS outage,
                   o.starts_at - CASE x.stage WHEN '15d' THEN interval '15 days' WHEN '7d' THEN interval '7 days'
                                 WHEN '30m' THEN interval '30 minutes' ELSE interval '0' END AS due,
                   CASE WHEN x.r < 0.05 THEN 'failed' WHEN x.r < 0.08 THEN 'cancelled'
                        WHEN x.r < 0.10 THEN 'skipped' WHEN x.r < 0.11 THEN 'pending'
                        WHEN x.stage = '30m' AND x.r < 0.7 THEN 'acked' ELSE 'sent' END AS status
            FROM (SELECT g, g % 20 = 0 AS key, random() AS r,
                         (ARRAY['15d', '7d', '30m', '15d', '7d', '30m', 'restored', 'change', 'initial',
                                'cancel'])[1 + g % 10] AS stage
                  FROM generate_series(1, {deliveries}) g) x
            JOIN outages o ON o.id = 1 + x.g % {outages}
        ) d
        """,
    ),
)


# --------------------------------------------------------------------------------------------- the database
def bench_url(url: str) -> str:
    """The scratch database's URL: the named one's, with `_kpi_bench` after its name."""
    base = make_url(url)
    return base.set(database=f"{base.database}_kpi_bench").render_as_string(hide_password=False)


async def fill(url: str, conversations: int) -> dict[str, float]:
    """The data (see FILL), then ANALYZE; the seconds each part took."""
    figures = {
        "now": f"'{NOW.isoformat()}'::timestamptz",
        "n": conversations,
        "span": SPAN_DAYS,
        "keys": KEY_ACCOUNTS,
        "managers": MANAGERS,
        "customers": min(CUSTOMERS, max(conversations // 3, 1000)),
        "outages": OUTAGES,
        "deliveries": conversations * 6 // 10,
    }
    took: dict[str, float] = {}
    engine = make_engine(url)
    try:
        for name, sql in FILL:
            began = time.perf_counter()
            async with engine.begin() as conn:
                for statement in sql.format(**figures).split(";"):
                    await conn.execute(text(statement))
            took[name] = round(time.perf_counter() - began, 1)
            print(f"  {name:<24}{took[name]:>7.1f} s", flush=True)
        began = time.perf_counter()
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        took["vacuum analyze"] = round(time.perf_counter() - began, 1)
        print(f"  {'vacuum analyze':<24}{took['vacuum analyze']:>7.1f} s", flush=True)
    finally:
        await engine.dispose()
    return took


async def reusable(url: str, conversations: int) -> bool:
    """--reuse: the scratch database is there with as many conversations (the dashboard only reads it)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM conversations")) or 0) == conversations
    except Exception:  # no such database yet
        return False
    finally:
        await engine.dispose()


async def filled(url: str, name: str, conversations: int) -> tuple[dict[str, float], float]:
    """The scratch database made anew, migrated and filled; the seconds of each part and of the whole (also kept
    in the database, for a later --reuse)."""
    await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    scratch = bench_url(url)
    await upgrade_async(scratch)
    print(f"filling {name} with {conversations} conversations ...", flush=True)
    began = time.perf_counter()
    took = await fill(scratch, conversations)
    fill_seconds = round(time.perf_counter() - began, 1)
    await record_fill(scratch, {**took, "total": fill_seconds})
    return took, fill_seconds


async def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    tables = ("conversations", "messages", "escalations", "surveys", "notice_deliveries", "identities")
    try:
        async with engine.connect() as conn:
            return {t: int(await conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in tables}
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------------ timing
@dataclass(frozen=True)
class Case:
    name: str
    scope: Scope
    start: datetime | None  # None: the default period (this week and the 7 before it)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement the dashboard ran: time, rows, scans (index or not)."""
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", parameters)
        raw = result.scalar_one()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    found = list(dict.fromkeys(scans(plan["Plan"])))
    return {
        "execution_ms": round(plan["Execution Time"], 1),
        "planning_ms": round(plan["Planning Time"], 1),
        "rows": plan["Plan"].get("Actual Rows"),
        "scans": found,
        "seq_scans": [s for s in found if s.startswith("Seq Scan")],
    }


async def run_case(url: str, case: Case, runs: int) -> dict[str, Any]:
    """A cold run (a fresh pool) and `runs` warm ones of the dashboard; each query's times and plan."""
    clock = FrozenClock(NOW)
    settings = Settings(database_url=url, env="test")
    service = KpiService(clock, settings, FeedbackReports(clock, settings, AuditService(clock)))
    engine = make_engine(url)
    recorder = Recorder()
    recorder.attach(engine)
    sessionmaker = make_sessionmaker(engine)
    totals: list[float] = []
    per_query: list[list[float]] = []
    try:
        for _ in range(runs + 1):
            recorder.on = True
            began = time.perf_counter()
            async with sessionmaker() as session:
                board = await service.dashboard(session, case.scope, case.start)
            totals.append(time.perf_counter() - began)
            recorder.on = False
            ran = [r for r in recorder.take() if not r[0].startswith("SET ")]
            assert len(ran) == len(QUERIES), [s[:60] for s, _p, _t in ran]
            per_query.append([seconds for _s, _p, seconds in ran])
        plans = [await explain(engine, statement, parameters) for statement, parameters, _t in ran]
    finally:
        await engine.dispose()
    warm = totals[1:]
    queries = []
    for i, name in enumerate(QUERIES):
        times = [run[i] for run in per_query[1:]]
        queries.append(
            {
                "query": name,
                "cold_ms": ms(per_query[0][i]),
                "p50_ms": ms(statistics.median(times)),
                "max_ms": ms(max(times)),
                "slow": max(times) * 1000 > SLOW_MS,
                **{f"plan_{k}": v for k, v in plans[i].items()},
            }
        )
    return {
        "case": case.name,
        "weeks": len(board.kpis[0].weeks),
        "from": board.start.isoformat(),
        "to": board.end.isoformat(),
        "conversations_in_period": board.kpis[0].base,
        "cold_ms": ms(totals[0]),
        "p50_ms": ms(statistics.median(warm)),
        "max_ms": ms(max(warm)),
        "queries": queries,
    }


def print_case(result: dict[str, Any]) -> None:
    print(
        f"\n{result['case']}: {result['weeks']} weeks, {result['conversations_in_period']} conversations with a "
        f"customer message — dashboard cold {result['cold_ms']} ms, warm p50 {result['p50_ms']} ms, "
        f"max {result['max_ms']} ms"
    )
    print(f"  {'query':<14}{'cold ms':>9}{'p50 ms':>9}{'max ms':>9}{'explain':>9}  scans")
    for q in result["queries"]:
        flag = "  SLOW" if q["slow"] else ""
        print(
            f"  {q['query']:<14}{q['cold_ms']:>9}{q['p50_ms']:>9}{q['max_ms']:>9}{q['plan_execution_ms']:>9}  "
            f"{'; '.join(q['plan_scans'])}{flag}"
        )


async def main(url: str, args: argparse.Namespace) -> int:
    conversations, runs = args.conversations, args.runs
    if refuses_remote(url):
        return 2
    scratch = bench_url(url)
    name = make_url(scratch).database
    recorded = await recorded_fill(scratch) if args.reuse else {}  # only a fill that ran to its end is recorded
    reused = bool(recorded) and await reusable(scratch, conversations)
    try:
        if reused:
            took = recorded
            fill_seconds = took.pop("total", 0.0)
            print(f"reusing {name} ({conversations} conversations): its fill took {fill_seconds} s", flush=True)
        else:
            took, fill_seconds = await filled(url, name, conversations)
        rows = await counts(scratch)
        print(f"  {'total':<24}{fill_seconds:>7.1f} s  " + ", ".join(f"{t} {n}" for t, n in rows.items()))
        if args.fill_only:
            return 0
        manager = Scope.of("account_manager", 1)  # the first of the MANAGERS: 20 key accounts
        year = default_start(NOW, Settings(database_url=scratch, env="test").tz, weeks=53)  # the longest period
        cases = [
            Case("everything, 8 weeks", EVERYTHING, None),
            Case("everything, 53 weeks", EVERYTHING, year),
            Case("one account manager, 8 weeks", manager, None),
            Case("one account manager, 53 weeks", manager, year),
        ]
        results = []
        for case in cases:
            result = await run_case(scratch, case, runs)
            print_case(result)
            results.append(result)
    finally:
        if args.keep or args.fill_only:
            print(f'kept {name} (drop it with: DROP DATABASE "{name}")')
        else:
            await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report = {
        "benchmark": "KPI dashboard",
        "database": make_url(scratch).render_as_string(hide_password=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "now": NOW.isoformat(),
        "rows": rows,
        "fill_seconds": {**took, "total": fill_seconds},
        **({"fill_note": FILL_CARRIED} if reused else {}),
        "warm_runs": runs,
        "slow_ms": SLOW_MS,
        "cases": results,
    }
    out = ROOT / "reports" / "bench" / "kpi.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    slow = [f"{r['case']}: {q['query']}" for r in results for q in r["queries"] if q["slow"]]
    if slow:
        print(f"slower than {SLOW_MS:.0f} ms: {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1_000_000, help="conversations to make (1000-5000000)")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per case (1-50)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (to look at it with psql)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database of as many conversations")
    parser.add_argument("--fill-only", action="store_true", help="make and fill the database, keep it, no report")
    args = parser.parse_args()
    if not 1000 <= args.conversations <= 5_000_000:
        parser.error("--conversations must be between 1000 and 5000000")
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    url = os.environ.get("GRIDTALK_BENCH_DATABASE_URL", DEFAULT_URL)
    sys.exit(asyncio.run(main(url, args)))
