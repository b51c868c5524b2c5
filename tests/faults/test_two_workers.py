"""Two real `gridtalk worker` processes on one PostgreSQL share a fan-out: every notice is delivered once.

The world: the demo data plus a district of subscribed Telegram customers (bulk SQL); one planned outage whose
first notice is due at once. Both workers claim from the same outbox (FOR UPDATE SKIP LOCKED, small batches so
that they take turns) and send through the fake Bot API on loopback; the fake server's log is the witness.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.faults import (
    WorkerProcess,
    delivered_per_chat,
    fan_out,
    metric,
    scrape,
    status_counts,
    wait_for,
    worker_env,
)
from tests.support.notices import TOKEN
from tests.support.processes import record_figures

AUDIENCE = 3_000
SETTINGS = {
    "notice_rate_limit": 500,  # per worker: together they could send 1 000 a second
    "notice_allow_paid_broadcast": "true",
    "notice_batch_size": 100,
    "notice_concurrency": 50,
    "notice_quiet_start": "00:00",  # no quiet hours: the test runs at any hour
    "notice_quiet_end": "00:00",
}


async def test_two_workers_on_one_database_send_every_notice_exactly_once(
    database_url: str, engine, sessionmaker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    seeded, outage_id = await fan_out(engine, sessionmaker, database_url, AUDIENCE, **SETTINGS)

    async with FakeTelegramApi() as api:
        ports = (free_port(), free_port())
        envs = [
            worker_env(
                database_url, telegram_token=TOKEN, telegram_api_base=api.base_url, **SETTINGS, worker_metrics_port=port
            )
            for port in ports
        ]
        with WorkerProcess(envs[0], tmp_path / "a.log") as first, WorkerProcess(envs[1], tmp_path / "b.log") as second:

            async def all_sent() -> bool:
                return await status_counts(sessionmaker, outage_id, stage="initial") == {"sent": AUDIENCE}

            took = await wait_for(all_sent, 120, "every notice sent by the two workers", 0.2)
            assert first.alive() and second.alive(), first.output()[-2000:] + second.output()[-2000:]
            # each worker's own count of what it sent (its /metrics): both took part
            pages = [await scrape(f"http://127.0.0.1:{port}/metrics") for port in ports]
            per_worker = [int(metric(page, "gridtalk_deliveries_total", status="sent")) for page in pages]
        delivered = delivered_per_chat(api.calls)
        sends = Counter(c.chat_id for c in api.calls if c.method == "sendMessage")

    residents = set(seeded.resident_chats())
    twice = sorted(chat for chat, n in delivered.items() if n > 1)
    record_figures(
        "faults/test_two_workers",
        workers=2,
        sent_per_worker=per_worker,
        deliveries=AUDIENCE,
        delivered=sum(1 for chat in residents if delivered[chat]),
        duplicates=sum(n - 1 for n in delivered.values()),
        send_attempts=sum(sends.values()),
        seconds_to_send_all=round(took, 2),
        total_s=round(time.monotonic() - started, 2),
    )
    assert twice == []
    assert sum(per_worker) == AUDIENCE and min(per_worker) > 0, per_worker
    assert {chat for chat in residents if delivered[chat] == 1} == residents
    assert set(delivered) == residents  # nobody else was written to
