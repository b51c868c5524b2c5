"""The worker was down while an outage's advance notices fell due, and comes back 10 minutes before the outage
starts: it does not send the stale 15-day and 7-day notices (those rows are `skipped`, with the reason), it sends
the 30-minute final confirmation, marked late.

A real worker process: `gridtalk worker --once --at <time>` runs one tick of every job with the clock set to
that time (core.clock.FrozenClock), against the fake Bot API and a real SMTP server on loopback. The outage is
published 20 days ahead (all three stages planned) in the demo world's Xihu district: two key-account contacts
(Telegram and email) and the subscribed residents (Telegram).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from core.clock import FrozenClock
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.faults import WorkerProcess, publish, worker_env
from tests.support.notices import (
    SHANGHAI,
    TOKEN,
    SmtpServer,
    load_demo_world,
    notice_settings,
    rows,
    smtp_settings,
    stages,
)
from tests.support.processes import record_figures

STALE_TITLES = ("计划停电通知", "计划停电提醒", "Planned outage notice", "Planned outage reminder")


async def test_a_worker_back_ten_minutes_before_the_outage_sends_only_the_final_confirmation(
    database_url: str, sessionmaker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    today = datetime.now(SHANGHAI).date()
    start = datetime.combine(today + timedelta(days=21), dt_time(10, 0), tzinfo=SHANGHAI)
    clock = FrozenClock(start - timedelta(days=20))
    await load_demo_world(sessionmaker, clock.now())
    outage_id = await publish(sessionmaker, clock, notice_settings(database_url), start, areas=("XH",))
    planned = {(s.stage, s.audience) for s in await stages(sessionmaker, outage_id)}
    assert {stage for stage, _ in planned} == {"15d", "7d", "30m"}
    back_at = start - timedelta(minutes=10)

    with SmtpServer() as smtp:
        async with FakeTelegramApi() as api:
            env = worker_env(
                database_url,
                telegram_token=TOKEN,
                telegram_api_base=api.base_url,
                **smtp_settings(smtp),
                notice_rate_limit=1000,
                notice_allow_paid_broadcast="true",
                worker_metrics_port=0,
            )
            worker = WorkerProcess(env, tmp_path / "worker.log", "--once", "--at", back_at.isoformat()).start()
            assert await worker.wait(120) == 0, worker.output()[-3000:]
            sent_calls = api.sent()
        mails = list(smtp.messages)

    deliveries = await rows(sessionmaker, outage_id)
    per_stage = Counter((d.stage, d.channel, d.status) for d in deliveries)
    reasons = Counter((d.stage, d.last_error) for d in deliveries if d.status == "skipped")
    final = [d for d in deliveries if d.stage == "30m"]
    late_notes = Counter(d.last_error for d in final)
    figures = {
        "outage_starts": start.isoformat(),
        "worker_back_at": back_at.isoformat(),
        "deliveries_by_stage_channel_status": {"/".join(k): n for k, n in sorted(per_stage.items())},
        "skipped_reasons": {f"{stage}: {reason}": n for (stage, reason), n in sorted(reasons.items())},
        "final_confirmations_sent": sum(1 for d in final if d.status == "sent"),
        "final_confirmation_notes": dict(late_notes),
        "telegram_messages": len(sent_calls),
        "emails": len(mails),
        "stale_notices_received": sum(1 for c in sent_calls if any(t in c.text for t in STALE_TITLES))
        + sum(1 for m in mails if any(t in str(m["Subject"]) for t in STALE_TITLES)),
        "total_s": round(time.monotonic() - started, 2),
    }
    record_figures("faults/test_catch_up", **figures)

    advance = [d for d in deliveries if d.stage in ("15d", "7d")]
    assert advance and {d.status for d in advance} == {"skipped"}  # none of the stale notices went
    # each stage, started late in order, supersedes the one before it: 15d by 7d, 7d by 30m
    assert {(d.stage, d.last_error) for d in advance} <= {
        ("15d", "superseded by the 7d notice"),
        ("15d", "superseded by the 30m notice"),
        ("7d", "superseded by the 30m notice"),
    }
    assert final and {d.status for d in final} == {"sent"}
    assert set(late_notes) == {"late: sent 20 min after its due time"}  # it says it is late
    telegram_final = [d for d in final if d.channel == "telegram"]
    assert Counter(c.chat_id for c in sent_calls) == Counter(d.telegram_chat_id for d in telegram_final)
    assert all("停电最后确认" in c.text or "confirm" in c.text.lower() for c in sent_calls)
    assert sorted(str(m["To"]) for m in mails) == sorted(d.address for d in final if d.channel == "email")
    assert figures["stale_notices_received"] == 0
    assert {d.sent_at for d in final} == {back_at}
