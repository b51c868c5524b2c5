"""Planning and audiences at scale: publishing a planned outage to 100 000 people, the final notice's
timing at Telegram's 30 messages a second, resolving an audience among a million accounts, one customer's
bill lookup among a million accounts.

It makes a scratch PostgreSQL database `bench_scale` on the server GRIDTALK_BENCH_DATABASE_URL names (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), migrates it (`alembic upgrade head`) and fills it with
INSERT ... SELECT generate_series (no ORM objects; the time is printed, it is not a figure of the product):
--accounts utility accounts (default 1 000 000) on 100 feeders in 10 areas, one customer and one bound,
subscribed Telegram identity each with one past conversation (an escalation for 1 in 100), --bill-months bills
each (2 lines a bill, the newest unpaid for 1 in 5), 200 key accounts (2 Telegram contacts each, managed by one
account manager). The outage's scope is 10 of the feeders: 10 % of the accounts.

Then, with the real services built as a process builds them (CoreServices.build, a frozen clock):
1. publish: OutageService.create a draft (its audience check included, as the API's POST does), then
   OutageService.publish, timed from the call to its commit — the stages planned, and a delivery per person,
   stage (15d, 7d, 30m) and route written, key accounts first. Goal ≤ 5 s at 100 000 recipients.
2. the T-30m stage under a simulated clock: the 15d and 7d notices are marked sent, the clock is set to the
   30m stage's planned start (send_from: audience ÷ rate + margin before its due time), the worker's
   start_due_stages runs (audience resolved again, rows released: its real time is printed), then the
   dispatcher's claim/record path (QueueRepository.claim, .record) runs against the simulated clock with a
   fake channel paced by the dispatcher's own TelegramLimiter at 30/s (its monotonic clock and sleep are the
   simulation's: no real waiting, no HTTP). It prints the last simulated send time against T-30m; the goal
   is every recipient told before T-30m.
3. audience resolution: NoticePlanner.audiences for the outage's scope among all accounts (goal ≤ 10 s at
   1 000 000 accounts, 10 % affected).
4. one customer's bill lookup ("how much is my bill", by a bound Telegram customer), as a chat turn reads it:
   the identity with its conversation and bindings, the newest bill and the unpaid ones with their lines (two
   queries: IdentityRepository.for_turn, BillingService in the turn's memo) —
   for --lookups random customers, p50 / p99 (goal p99 ≤ 5 ms at 1 000 000 accounts), and EXPLAIN (ANALYZE)
   of each of its queries (each must be an Index Scan, not a Seq Scan).
5. the districts and feeders an outage question matches a message against, at PLACES_FEEDERS feeders (topped up
   inside a transaction that is rolled back): read from the database by a fresh process's OutageQueries, then
   kept (core.outages.places_cache), p50 of each.

Run: `.venv/bin/python bench/scale.py` (full size, ~5 minutes here, 2.5 of them making the data), `--quick`
(100 000 accounts, 10 000 recipients, < 1 minute) while developing; `--keep` keeps the database and `--reuse`
runs again on a kept one of as many accounts whose fill ran to its end (its outages and notices emptied, no fill;
the report carries the fill's times, which the kept database holds; otherwise it is filled anew); `--fill-only`
makes and fills the database, keeps it and stops (no report); `--publish-only` stops after the publish;
`--profile` prints cProfile of the publish, the stage start and one audience resolution (BENCH_SORT=tottime to
sort by own time). Prints a table (what, size, figure, goal, met?) and writes reports/bench/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import (  # noqa: E402
    FILL_CARRIED,
    Recorder,
    SimulatedTime,
    admin,
    record_fill,
    recorded_fill,
    refuses_remote,
    scans,
    scratch_url,
)
from core.billing.service import BillingService  # noqa: E402
from core.clock import FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.conversations.memo import turn_memo  # noqa: E402
from core.customers.repository import IdentityRepository  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.db.migrate import upgrade_async  # noqa: E402
from core.models.enums import DeliveryChannel, DeliveryStatus, OutageKind  # noqa: E402
from core.notices.queue_repository import QueueRepository  # noqa: E402
from core.notices.ratelimit import TelegramLimiter  # noqa: E402
from core.outages.facts import Scope  # noqa: E402
from core.outages.places_cache import TTL_SECONDS  # noqa: E402
from core.outages.queries import OutageQueries  # noqa: E402
from core.outages.service import OutageInput  # noqa: E402
from core.services import CoreServices  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_scale"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai: no quiet hours in the way
STARTS = NOW + timedelta(days=20)  # the outage: every stage (15d, 7d, 30m) still ahead
FEEDERS, AREAS, OUTAGE_FEEDERS = 100, 10, 10  # 10 of 100 feeders: 10 % of the accounts
KEY_ACCOUNTS, KEY_SPACING = 200, 4999
RATE = 30.0  # Telegram's cap without paid broadcast

GOAL_PUBLISH_S, GOAL_AUDIENCE_S, GOAL_LOOKUP_P99_MS = 5.0, 10.0, 5.0
PLACES_FEEDERS = 20_000  # a 10-million-customer utility's 10 kV feeders, about 500 customers each (docs/SCALE.md)

FILL = (
    (
        "places, tariff, staff",
        """
        INSERT INTO areas (code, name, name_en) SELECT 'A' || a, '区' || a, 'Area ' || a
        FROM generate_series(0, {areas} - 1) a;
        INSERT INTO feeders (code, area_code, name, lines)
        SELECT 'F' || lpad(f::text, 3, '0'), 'A' || (f % {areas}), '线' || f, 'Line ' || f
        FROM generate_series(0, {feeders} - 1) f;
        INSERT INTO tariffs (code, name, tier1_limit_kwh, tier2_limit_kwh, tier2_surcharge, tier3_surcharge,
                             peak_price, valley_price, peak_starts, valley_starts)
        VALUES ('RES', 'residential', 200, 400, 0.05, 0.3, 0.6, 0.3, '08:00', '22:00');
        INSERT INTO staff_users (username, password_hash, role, display_name, is_active, created_at)
        VALUES ('bench.admin', '-', 'admin', 'Bench', true, {now}),
               ('bench.manager', '-', 'account_manager', 'Manager', true, {now})
        """,
    ),
    (
        "customers, accounts",
        """
        INSERT INTO customers (id, name, segment, language, created_at)
        SELECT g, '客户' || g, CASE WHEN g % {key_spacing} = 0 AND g / {key_spacing} <= {keys}
                                    THEN 'key_account' ELSE 'residential' END,
               CASE WHEN g % 10 = 0 THEN 'en' ELSE 'zh' END, {now}
        FROM generate_series(1, {accounts}) g;
        INSERT INTO utility_accounts (id, account_number, customer_id, address, area_code, feeder_code, phone,
                                      tariff_id, created_at)
        SELECT g, lpad(g::text, 10, '0'), g, g || ' Grid Road', 'A' || ((g % {feeders}) % {areas}),
               'F' || lpad((g % {feeders})::text, 3, '0'), '138' || lpad(g::text, 8, '0'),
               (SELECT min(id) FROM tariffs), {now}
        FROM generate_series(1, {accounts}) g;
        SELECT setval('customers_id_seq', {accounts}); SELECT setval('utility_accounts_id_seq', {accounts})
        """,
    ),
    (
        "key accounts",
        """
        INSERT INTO key_account_profiles (account_id, account_manager_id, priority, category)
        SELECT c.id, (SELECT id FROM staff_users WHERE username = 'bench.manager'), 1 + c.id % 3, 'industry'
        FROM customers c WHERE c.segment = 'key_account';
        INSERT INTO key_account_contacts (account_id, name, title, telegram_chat_id, email, phone, language,
                                          created_at)
        SELECT p.account_id, 'Contact ' || p.account_id || '-' || k, 'engineer', 2000000000 + p.account_id * 2 + k,
               'contact' || p.account_id || '-' || k || '@bench.example', '139' || lpad(p.account_id::text, 8, '0'),
               'zh', {now}
        FROM key_account_profiles p CROSS JOIN generate_series(0, 1) k
        """,
    ),
    (
        "identities, bindings",
        """
        INSERT INTO identities (id, channel, external_id, telegram_chat_id, language, subscribed_notices,
                                bill_reminders, created_at)
        SELECT g, 'telegram', (1000000000 + g)::text, 1000000000 + g, CASE WHEN g % 10 = 0 THEN 'en' ELSE 'zh' END,
               true, false, {now}
        FROM generate_series(1, {accounts}) g;
        SELECT setval('identities_id_seq', {accounts});
        INSERT INTO identity_accounts (identity_id, account_id, verified_at, is_current)
        SELECT g, g, {now}, true FROM generate_series(1, {accounts}) g
        """,
    ),
    (
        "conversations",  # one each (what a chat turn's first query looks up), an escalation for 1 in 100
        """
        INSERT INTO conversations (id, identity_id, channel, state, last_message_at, created_at)
        SELECT g, g, 'telegram', 'closed', {now} - interval '3 days', {now} - interval '3 days'
        FROM generate_series(1, {accounts}) g;
        SELECT setval('conversations_id_seq', {accounts});
        INSERT INTO escalations (conversation_id, identity_id, account_id, reason, priority, state, resolved_at,
                                 created_at)
        SELECT g, g, g, 'human_handoff', 'normal', 'resolved', {now} - interval '2 days', {now} - interval '3 days'
        FROM generate_series(1, {accounts}, 100) g
        """,
    ),
    (
        "bills",
        """
        INSERT INTO bills (account_id, period, period_start, period_end, days, kwh, kwh_peak, kwh_valley, amount,
                           issued_at, due_date, paid_at)
        SELECT a, to_char(m, 'YYYY-MM'), m::date, (m + interval '1 month' - interval '1 day')::date,
               extract(day FROM m + interval '1 month' - interval '1 day')::int, 300, 200, 100, 150,
               m + interval '1 month' + interval '2 days', (m + interval '1 month' + interval '20 days')::date,
               CASE WHEN k = 1 AND a % 5 = 0 THEN NULL ELSE m + interval '1 month' + interval '10 days' END
        FROM generate_series(1, {accounts}) a
        CROSS JOIN LATERAL (SELECT k, date_trunc('month', {now}) - interval '1 month' * k AS m
                            FROM generate_series(1, {months}) k) p
        """,
    ),
    (
        "bill lines",
        """
        INSERT INTO bill_lines (bill_id, position, kind, kwh, unit_price, amount)
        SELECT b.id, k, CASE k WHEN 1 THEN 'peak' ELSE 'valley' END, CASE k WHEN 1 THEN 200 ELSE 100 END,
               CASE k WHEN 1 THEN 0.6 ELSE 0.3 END, CASE k WHEN 1 THEN 120 ELSE 30 END
        FROM bills b CROSS JOIN generate_series(1, 2) k
        """,
    ),
)


# --------------------------------------------------------------------------------------------- the database
async def fill(url: str, accounts: int, months: int) -> dict[str, float]:
    figures = {
        "now": f"'{NOW.isoformat()}'::timestamptz",
        "accounts": accounts,
        "areas": AREAS,
        "feeders": FEEDERS,
        "keys": KEY_ACCOUNTS,
        "key_spacing": KEY_SPACING if accounts >= KEY_SPACING * KEY_ACCOUNTS else max(accounts // KEY_ACCOUNTS, 7),
        "months": months,
    }
    took: dict[str, float] = {}
    engine = make_engine(url)
    try:
        for name, sql in FILL:
            began = time.perf_counter()
            async with engine.begin() as conn:
                # generated consistent: no foreign-key trigger per row (the fill is not a figure of the product)
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
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


async def reusable(url: str, accounts: int) -> bool:
    """--reuse: the scratch database is there with as many accounts; its outages and notices are emptied."""
    try:
        engine = make_engine(url)
        async with engine.begin() as conn:
            if int(await conn.scalar(text("SELECT count(*) FROM utility_accounts")) or 0) != accounts:
                return False
            await conn.execute(
                text(
                    "TRUNCATE notice_deliveries, notice_stages, outage_areas, outage_feeders, outage_accounts, "
                    "outage_estimates, audit_log, outages CASCADE"
                )
            )
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE notice_deliveries"))
        return True
    except Exception:  # no such database yet
        return False
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------------ helpers
def settings_for(url: str) -> Settings:
    return Settings(database_url=url, env="test", telegram_token="123456:bench-token", notice_rate_limit=RATE)


def profiled(enabled: bool) -> cProfile.Profile | None:
    if not enabled:
        return None
    profile = cProfile.Profile()
    profile.enable()
    return profile


def report_profile(profile: cProfile.Profile | None, title: str) -> None:
    if profile is None:
        return
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(25)
    print(f"\n--- cProfile: {title} ---\n{out.getvalue()}")


# ------------------------------------------------------------------------------------------------ publish
async def publish(url: str, profile: bool) -> dict[str, Any]:
    """Create a draft on the outage's feeders and publish it, each in its own unit of work (as the API)."""
    clock = FrozenClock(NOW)
    services = CoreServices.build(settings_for(url), clock)
    engine = make_engine(url)
    recorder = Recorder()
    recorder.attach(engine)
    sessionmaker = make_sessionmaker(engine)
    feeders = tuple(f"F{f:03d}" for f in range(OUTAGE_FEEDERS))
    try:
        async with sessionmaker() as session:
            actor = int(await session.scalar(text("SELECT id FROM staff_users WHERE username = 'bench.admin'")))
        began = time.perf_counter()
        async with sessionmaker() as session:
            outage = await services.outages.create(
                session,
                OutageInput(
                    kind=OutageKind.PLANNED,
                    starts_at=STARTS,
                    ends_at=STARTS + timedelta(hours=4),
                    reason="检修",
                    feeders=feeders,
                ),
                actor_id=actor,
            )
            outage_id = outage.id
            await session.commit()
        create_s = time.perf_counter() - began
        prof = profiled(profile)
        recorder.on = True
        began, cpu = time.perf_counter(), time.process_time()
        async with sessionmaker() as session:
            await services.outages.publish(session, outage_id, actor_id=actor)
            await session.commit()
        publish_s, publish_cpu = time.perf_counter() - began, time.process_time() - cpu
        recorder.on = False
        report_profile(prof, "publish")
        statements = recorder.take()
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT stage, audience, recipients, due_at, send_from FROM notice_stages "
                        "WHERE outage_id = :o ORDER BY due_at, audience"
                    ),
                    {"o": outage_id},
                )
            ).all()
            deliveries = int(
                await conn.scalar(text("SELECT count(*) FROM notice_deliveries WHERE outage_id = :o"), {"o": outage_id})
                or 0
            )
    finally:
        await engine.dispose()
    stages = [
        {
            "stage": s,
            "audience": a,
            "recipients": n,
            "due_at": due.isoformat(),
            "send_from": start.isoformat(),
            "early_by_minutes": round((due - start).total_seconds() / 60, 1),
        }
        for s, a, n, due, start in rows
    ]
    recipients = sum(s["recipients"] for s in stages if s["stage"] == "30m")
    return {
        "outage_id": outage_id,
        "create_seconds": round(create_s, 2),
        "publish_seconds": round(publish_s, 2),
        "publish_client_cpu_seconds": round(publish_cpu, 2),  # this process: Python, SQLAlchemy, asyncpg
        "recipients": recipients,
        "deliveries": deliveries,
        "statements": len(statements),
        "statement_seconds": round(sum(t for _s, _p, t in statements), 2),
        "slowest_statements": [
            {"seconds": round(t, 2), "sql": " ".join(sql.split())[:120]}
            for sql, _p, t in sorted(statements, key=lambda s: -s[2])[:6]
        ],
        "stages": stages,
    }


# --------------------------------------------------------------------------------------- the T-30m stage
async def final_stage(url: str, outage_id: int, batch: int, profile: bool) -> dict[str, Any]:
    """The 30m stage started at its planned send_from and sent at RATE under a simulated clock."""
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            # the advance notices went out days ago: sent, their stages resolved
            await session.execute(
                text(
                    "UPDATE notice_deliveries SET status = 'sent', sent_at = due_at, next_attempt_at = NULL "
                    "WHERE outage_id = :o AND stage IN ('15d', '7d')"
                ),
                {"o": outage_id},
            )
            await session.execute(
                text(
                    "UPDATE notice_stages SET status = 'resolved', resolved_at = send_from "
                    "WHERE outage_id = :o AND stage IN ('15d', '7d')"
                ),
                {"o": outage_id},
            )
            start, due = (
                await session.execute(
                    text(
                        "SELECT min(send_from), min(due_at) FROM notice_stages WHERE outage_id = :o AND stage = '30m'"
                    ),
                    {"o": outage_id},
                )
            ).one()
            await session.commit()
        clock = FrozenClock(start)
        services = CoreServices.build(settings_for(url), clock)
        prof = profiled(profile)
        began = time.perf_counter()
        async with sessionmaker() as session:
            started = await services.stage_starter.start_due_stages(session)
            await session.commit()
        start_s = time.perf_counter() - began
        report_profile(prof, "start_due_stages")

        sim = SimulatedTime()
        sim.now = start_s  # the stage's rows are released only once start_due_stages has committed
        limiter = TelegramLimiter(RATE, 1.0, monotonic=sim.monotonic, sleep=sim.sleep)
        channels = [DeliveryChannel.TELEGRAM]
        sent: list[datetime] = []
        late = 0
        claims = 0
        began = time.perf_counter()
        while True:
            now = start + timedelta(seconds=sim.now)
            token = uuid.uuid4().hex
            async with sessionmaker() as session:
                rows = await QueueRepository(session).claim(now, batch, channels, now + timedelta(minutes=5), token)
                claimed = [(r.id, r.telegram_chat_id, r.attempts, r.due_at, r.stage) for r in rows]
                await session.commit()
            if not claimed:
                break
            claims += 1
            results = []
            for ident, chat, attempts, due_at, _stage in claimed:
                await limiter.acquire(chat)  # the fake channel: the send happens when the limiter lets it
                at = start + timedelta(seconds=sim.now)
                sent.append(at)
                late += at > due_at
                results.append(
                    {
                        "b_id": ident,
                        "b_token": token,
                        "b_status": DeliveryStatus.SENT,
                        "b_next": None,
                        "b_sent": at,
                        "b_error": None,
                        "b_attempts": attempts,
                    }
                )
            async with sessionmaker() as session:
                await QueueRepository(session).record(results)
                await session.commit()
        run_s = time.perf_counter() - began
        async with engine.connect() as conn:
            counts = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT status, count(*) FROM notice_deliveries WHERE outage_id = :o AND stage = '30m' "
                            "GROUP BY status"
                        ),
                        {"o": outage_id},
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    last = max(sent) if sent else start
    return {
        "method": "simulated run: start_due_stages, then QueueRepository.claim/record with TelegramLimiter "
        f"at {RATE:.0f}/s on a simulated clock (fake channel, no HTTP)",
        "stages_started": started,
        "stage_start_real_seconds": round(start_s, 2),
        "send_from": start.isoformat(),
        "due_at": due.isoformat(),
        "planned_lead_minutes": round((due - start).total_seconds() / 60, 1),
        "sent": len(sent),
        "claims": claims,
        "statuses": {str(k): int(v) for k, v in counts.items()},
        "last_sent_at": last.isoformat(),
        "last_before_due_seconds": round((due - last).total_seconds(), 1),
        "late": late,
        "simulated_minutes": round(sim.now / 60, 1),
        "bookkeeping_real_seconds": round(run_s, 2),
    }


# --------------------------------------------------------------------------------------------- audiences
async def audiences(url: str, runs: int, profile: bool) -> dict[str, Any]:
    clock = FrozenClock(NOW)
    services = CoreServices.build(settings_for(url), clock)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    scope = Scope(feeder_codes=tuple(f"F{f:03d}" for f in range(OUTAGE_FEEDERS)))
    times = []
    found = 0
    try:
        for i in range(runs):
            prof = profiled(profile and i == runs - 1)
            began = time.perf_counter()
            async with sessionmaker() as session:
                resolved = await services.planner.audiences(session, scope)
            times.append(time.perf_counter() - began)
            report_profile(prof, "audiences")
            found = resolved.count()
        async with sessionmaker() as session:
            accounts = int(await session.scalar(text("SELECT count(*) FROM utility_accounts")) or 0)
    finally:
        await engine.dispose()
    return {
        "accounts": accounts,
        "recipients": found,
        "runs": runs,
        "seconds": [round(t, 2) for t in times],
        "best_seconds": round(min(times), 2),
        "median_seconds": round(statistics.median(times), 2),
    }


# ------------------------------------------------------------------------------------------- bill lookup
async def one_lookup(session: Any, billing: BillingService, external_id: str, today: date) -> None:
    """What a chat turn reads for "how much is my bill", as the turn reads it (its memo open): the identity with
    its conversation and bound accounts (one query), the newest bills with the unpaid ones (one query)."""
    with turn_memo(session):
        found = await IdentityRepository(session).for_turn("telegram", external_id)
        assert found is not None
        account = found[2][0][1]
        bills = await billing.latest(session, account, 1)
        await billing.amount_due(session, account, bills[0], today)


async def bill_lookups(url: str, accounts: int, lookups: int) -> dict[str, Any]:
    engine = make_engine(url)
    recorder = Recorder()
    recorder.attach(engine)
    sessionmaker = make_sessionmaker(engine)
    billing = BillingService()
    rng = random.Random(7)
    today = NOW.date()
    times = []
    try:
        for i in range(lookups + 20):  # 20 warm-ups: the pool's connection, prepared statements
            external_id = str(1_000_000_000 + rng.randint(1, accounts))
            began = time.perf_counter()
            async with sessionmaker() as session:
                await one_lookup(session, billing, external_id, today)
            if i >= 20:
                times.append(time.perf_counter() - began)
        recorder.on = True
        async with sessionmaker() as session:
            await one_lookup(session, billing, str(1_000_000_000 + rng.randint(1, accounts)), today)
        recorder.on = False
        plans = []
        async with engine.connect() as conn:
            for statement, parameters, _t in recorder.take():
                result = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
                raw = result.scalar_one()
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
                found = scans(plan["Plan"])
                plans.append(
                    {
                        "query": " ".join(statement.split())[:160],
                        "execution_ms": round(plan["Execution Time"], 3),
                        "scans": found,
                        "seq_scans": [s for s in found if s.startswith("Seq Scan")],
                    }
                )
    finally:
        await engine.dispose()
    times.sort()
    return {
        "lookups": lookups,
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
        "queries": plans,
    }


# ------------------------------------------------------------------------------------------------ places
async def places(url: str, feeders: int, runs: int = 10) -> dict[str, Any]:
    """What an outage question reads to match the place a message names: every district and feeder, here
    `feeders` of them (the fill's own topped up inside a transaction that is rolled back). Read from the
    database (a process's first question, then once a TTL) and kept (every other question), p50 of `runs`."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            have = int(await session.scalar(text("SELECT count(*) FROM feeders")) or 0)
            await session.execute(
                text(
                    "INSERT INTO feeders (code, area_code, name, lines) SELECT 'X' || g, 'A0', '压测线' || g, "
                    "'10kV 压测线' || g || '（压测路开闭所—压测街环网柜）' FROM generate_series(1, :n) g"
                ),
                {"n": max(feeders - have, 0)},
            )
            read, kept = [], []
            for _ in range(runs):
                queries = OutageQueries()  # a new process's: nothing kept yet
                began = time.perf_counter()
                found = await queries.kept_places(session)
                read.append(time.perf_counter() - began)
                began = time.perf_counter()
                await queries.kept_places(session)
                kept.append(time.perf_counter() - began)
            await session.rollback()
    finally:
        await engine.dispose()
    return {
        "feeders": len(found.feeders),
        "read_ms": round(1000 * statistics.median(read), 1),
        "kept_ms": round(1000 * statistics.median(kept), 3),
        "ttl_seconds": TTL_SECONDS,
    }


# ---------------------------------------------------------------------------------------------------- main
def row(what: str, size: str, figure: str, goal: str, met: bool | None) -> list[str]:
    return [what, size, figure, goal, "—" if met is None else ("yes" if met else "NO")]


async def main(args: argparse.Namespace) -> int:
    url = os.environ.get("GRIDTALK_BENCH_DATABASE_URL", DEFAULT_URL)
    if refuses_remote(url):
        return 2
    scratch = scratch_url(url, DATABASE)
    total = time.perf_counter()
    recorded = await recorded_fill(scratch) if args.reuse else {}  # only a fill that ran to its end is recorded
    reused = bool(recorded) and await reusable(scratch, args.accounts)
    if not reused:
        await admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"')
    try:
        if reused:
            took = recorded
            fill_s = took.pop("total", 0.0)
            print(
                f"reusing {DATABASE} ({args.accounts} accounts): its outages and notices emptied; its fill took "
                f"{fill_s} s",
                flush=True,
            )
        else:
            await upgrade_async(scratch)
            print(f"filling {DATABASE}: {args.accounts} accounts, {args.bill_months} bills each ...", flush=True)
            began = time.perf_counter()
            took = await fill(scratch, args.accounts, args.bill_months)
            fill_s = round(time.perf_counter() - began, 1)
            print(f"  {'total':<24}{fill_s:>7.1f} s (data generation: not a figure of the product)", flush=True)
            await record_fill(scratch, {**took, "total": fill_s})
        if args.fill_only:
            return 0

        print("publishing the outage ...", flush=True)
        published = await publish(scratch, args.profile)
        print(
            f"  create {published['create_seconds']} s, publish {published['publish_seconds']} s "
            f"(client CPU {published['publish_client_cpu_seconds']} s, in statements "
            f"{published['statement_seconds']} s): {published['deliveries']} deliveries, "
            f"{published['statements']} statements",
            flush=True,
        )
        for q in published["slowest_statements"]:
            print(f"    {q['seconds']:>6} s  {q['sql'][:100]}")
        for s in published["stages"]:
            print(
                f"    {s['stage']:>4} {s['audience']:<12}{s['recipients']:>8} due {s['due_at']}  "
                f"starts {s['early_by_minutes']} min early"
            )
        if args.publish_only:
            return 0
        print("the T-30m stage, simulated ...", flush=True)
        final = await final_stage(scratch, published["outage_id"], args.batch, args.profile)
        print(
            f"  start_due_stages {final['stage_start_real_seconds']} s (real); {final['sent']} sent in "
            f"{final['simulated_minutes']} simulated minutes ({final['bookkeeping_real_seconds']} s real); "
            f"last {final['last_before_due_seconds']} s before T-30m, {final['late']} late",
            flush=True,
        )
        print("resolving the audience ...", flush=True)
        audience = await audiences(scratch, args.runs, args.profile)
        print(f"  {audience['recipients']} recipients: {audience['seconds']} s", flush=True)
        print("bill lookups ...", flush=True)
        lookup = await bill_lookups(scratch, args.accounts, args.lookups)
        print(f"  p50 {lookup['p50_ms']} ms, p99 {lookup['p99_ms']} ms", flush=True)
        for q in lookup["queries"]:
            print(f"    {q['execution_ms']:>7} ms  {'; '.join(q['scans'])}  — {q['query'][:90]}")
        print(f"districts and feeders at {PLACES_FEEDERS} feeders ...", flush=True)
        place = await places(scratch, PLACES_FEEDERS)
        print(f"  read {place['read_ms']} ms, kept {place['kept_ms']} ms", flush=True)
    finally:
        if args.keep or args.fill_only:
            print(f'kept {DATABASE} (drop it with: DROP DATABASE "{DATABASE}")')
        else:
            await admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    recipients = published["recipients"]
    seq = [s for q in lookup["queries"] for s in q["seq_scans"]]
    table = [
        row(
            "publish (plan + deliveries, to commit)",
            f"{recipients} recipients, {published['deliveries']} rows",
            f"{published['publish_seconds']} s",
            f"≤ {GOAL_PUBLISH_S:.0f} s",
            published["publish_seconds"] <= GOAL_PUBLISH_S,
        ),
        row(
            "create draft (audience check)",
            f"{recipients} recipients",
            f"{published['create_seconds']} s",
            "",
            None,
        ),
        row(
            "T-30m stage start (re-resolve, release)",
            f"{final['sent']} recipients",
            f"{final['stage_start_real_seconds']} s",
            "",
            None,
        ),
        row(
            f"T-30m all sent before T-30m at {RATE:.0f}/s (simulated)",
            f"{final['sent']} sends",
            f"last {final['last_before_due_seconds']} s before",
            "> 0 s, 0 late",
            final["late"] == 0 and final["last_before_due_seconds"] > 0 and final["sent"] >= recipients,
        ),
        row(
            "audience resolution",
            f"{audience['accounts']} accounts, {audience['recipients']} in scope",
            f"{audience['median_seconds']} s",
            f"≤ {GOAL_AUDIENCE_S:.0f} s",
            audience["median_seconds"] <= GOAL_AUDIENCE_S,
        ),
        row(
            "bill lookup p99",
            f"{args.accounts} accounts",
            f"{lookup['p99_ms']} ms (p50 {lookup['p50_ms']})",
            f"≤ {GOAL_LOOKUP_P99_MS:.0f} ms",
            lookup["p99_ms"] <= GOAL_LOOKUP_P99_MS,
        ),
        row(
            "bill lookup: queries on an index",
            f"{len(lookup['queries'])} queries",
            f"{len(seq)} seq scans",
            "0",
            not seq,
        ),
        row(
            "an outage question's districts and feeders",
            f"{place['feeders']} feeders",
            f"read {place['read_ms']} ms at most once in {place['ttl_seconds']:.0f} s, else {place['kept_ms']} ms",
            "",
            None,
        ),
    ]
    widths = [max(len(r[i]) for r in [["what", "size", "figure", "goal", "met?"], *table]) for i in range(5)]
    print()
    for r in [["what", "size", "figure", "goal", "met?"], *table]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)))
    report = {
        "benchmark": "planning and audiences at scale",
        "database": make_url(scratch).render_as_string(hide_password=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "accounts": args.accounts,
        "bill_months": args.bill_months,
        "fill_seconds": {**took, "total": fill_s},
        **({"fill_note": FILL_CARRIED} if reused else {}),
        "publish": published,
        "final_stage": final,
        "audiences": audience,
        "bill_lookup": lookup,
        "places": place,
        "table": [dict(zip(["what", "size", "figure", "goal", "met"], r, strict=True)) for r in table],
        "total_seconds": round(time.perf_counter() - total, 1),
    }
    out = ROOT / "reports" / "bench" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)} ({report['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 000 accounts (10 000 recipients), 3 bill months")
    parser.add_argument("--accounts", type=int, default=None, help="accounts (10 000-2 000 000; default 1 000 000)")
    parser.add_argument("--bill-months", type=int, default=None, help="bills per account (1-24; default 6)")
    parser.add_argument("--lookups", type=int, default=1000, help="bill lookups timed (100-20 000)")
    parser.add_argument("--runs", type=int, default=3, help="audience resolutions timed (1-10)")
    parser.add_argument("--batch", type=int, default=500, help="deliveries claimed at once in the simulation")
    parser.add_argument("--profile", action="store_true", help="cProfile the publish and the audience resolution")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (to look at it with psql)")
    parser.add_argument("--publish-only", action="store_true", help="stop after the publish (no report written)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database of the same size (no fill)")
    parser.add_argument("--fill-only", action="store_true", help="make and fill the database, keep it, no report")
    args = parser.parse_args()
    args.accounts = args.accounts or (100_000 if args.quick else 1_000_000)
    args.bill_months = args.bill_months or (3 if args.quick else 6)
    if not 10_000 <= args.accounts <= 2_000_000:
        parser.error("--accounts must be between 10000 and 2000000")
    if not 1 <= args.bill_months <= 24:
        parser.error("--bill-months must be between 1 and 24")
    if not 100 <= args.lookups <= 20_000 or not 1 <= args.runs <= 10 or not 1 <= args.batch <= 5000:
        parser.error("--lookups 100-20000, --runs 1-10, --batch 1-5000")
    sys.exit(asyncio.run(main(args)))
