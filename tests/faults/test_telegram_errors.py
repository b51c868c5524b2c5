"""A real `gridtalk worker` against a Bot API that misbehaves: 429 with retry_after, 500, answers slower than the
send timeout, 403 for about one chat in ten, and a wrong token (401). Everything deliverable is delivered, each
pause and retry delay is kept (read back from the fake server's log), nothing is tried more often than the
retry schedule allows, a 403 marks the recipient blocked and reaches a key-account contact by email (a real
SMTP server on loopback), and a 401 pauses the channel without using up attempts.

The world: the demo data plus a district of 300 subscribed residents and 10 key accounts with 2 contacts each
(bulk SQL); one planned outage published 3 days ahead, whose first notice is due at once. Contacts get email
only when Telegram cannot reach them (GRIDTALK_NOTICE_EMAIL_KEY_ACCOUNTS=false), so every email is a fallback.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.clock import SystemClock
from core.models import Identity, KeyAccountContact, NoticeDelivery
from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.faults import (
    CONTACT_CHATS,
    Seeded,
    WorkerProcess,
    attempts_per_chat,
    delivered_per_chat,
    metric,
    publish,
    scrape,
    seed_area,
    status_counts,
    wait_for,
    worker_env,
)
from tests.support.notices import TOKEN, SmtpServer, load_demo_world, notice_settings, smtp_settings
from tests.support.processes import record_figures

RETRY_AFTER = 1
SEND_TIMEOUT = 1.0
STALL = 2.5  # longer than the send timeout
BASE = 0.4  # first retry delay (equal jitter: between BASE/2 and BASE)
SETTINGS: dict[str, Any] = {
    "notice_rate_limit": 1000,
    "notice_allow_paid_broadcast": "true",
    "notice_chat_interval": 0,  # the gaps measured are the retry schedule's, not the per-chat interval's
    "notice_send_timeout": SEND_TIMEOUT,
    "notice_retry_base_seconds": BASE,
    "notice_retry_max_seconds": 2,
    "notice_email_key_accounts": "false",
    "notice_quiet_start": "00:00",  # no quiet hours: the test runs at any hour
    "notice_quiet_end": "00:00",
    "worker_metrics_port": 0,
}
# What each chat's sends meet, decided by the chat id (a multiplicative hash, so it is spread over residents
# and contacts alike): the failures in order, then success (403: every time).
FATES: list[tuple[int, str, list[dict[str, Any]]]] = [  # (upper bound of the bucket, name, failures)
    (10, "blocked", []),
    (12, "429", [{"status": 429, "retry_after": RETRY_AFTER}]),  # each pauses every send: a few are enough
    (23, "500x2", [{"status": 500}, {"status": 500}]),
    (29, "timeout", [{"status": 504, "delay": STALL}]),
    (100, "ok", []),
]


def fate(chat: int) -> tuple[str, list[dict[str, Any]]]:
    bucket = (chat * 2_654_435_761 >> 7) % 100
    return next((name, failures) for bound, name, failures in FATES if bucket < bound)


def script(api: FakeTelegramApi, chats: list[int]) -> dict[int, str]:
    fates = {}
    for chat in chats:
        name, failures = fate(chat)
        fates[chat] = name
        if name == "blocked":
            api.block_chat(chat)
        for failure in failures:
            api.fail_chat(chat, **failure)
    return fates


async def world(engine, sessionmaker, database_url: str) -> tuple[Seeded, int]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    await load_demo_world(sessionmaker, now)
    seeded = await seed_area(engine, now, residents=300, key_accounts=10, contacts_per_account=2)
    settings = notice_settings(database_url, telegram_token=TOKEN, **SETTINGS)
    return seeded, await publish(sessionmaker, SystemClock(), settings, now + timedelta(days=3))


async def test_a_misbehaving_bot_api_delivers_everything_deliverable_at_the_pace_it_asks(
    database_url: str, engine, sessionmaker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    seeded, outage_id = await world(engine, sessionmaker, database_url)
    chats = seeded.resident_chats() + seeded.contact_chats()
    with SmtpServer() as smtp:
        async with FakeTelegramApi() as api:
            fates = script(api, chats)
            env = worker_env(
                database_url,
                telegram_token=TOKEN,
                telegram_api_base=api.base_url,
                **smtp_settings(smtp),
                **SETTINGS,
            )
            blocked_contacts = [c for c in seeded.contact_chats() if fates[c] == "blocked"]

            async def settled() -> bool:
                counts = await status_counts(sessionmaker, outage_id, stage="initial")
                return set(counts) <= {"sent", "blocked"} and len(smtp.messages) >= len(blocked_contacts)

            with WorkerProcess(env, tmp_path / "worker.log"):
                took = await wait_for(settled, 60, "every deliverable notice out", 0.2)
            calls = list(api.calls)
        async with sessionmaker() as session:
            telegram = {
                d.telegram_chat_id: d
                for d in await session.scalars(
                    select(NoticeDelivery).where(
                        NoticeDelivery.outage_id == outage_id,
                        NoticeDelivery.stage == "initial",  # the final notice's rows wait, pending, for T-30m
                        NoticeDelivery.channel == "telegram",
                    )
                )
            }
            emails = list(
                await session.scalars(
                    select(NoticeDelivery).where(
                        NoticeDelivery.outage_id == outage_id,
                        NoticeDelivery.stage == "initial",
                        NoticeDelivery.channel == "email",
                    )
                )
            )
            blocked_identities = set(
                await session.scalars(select(Identity.telegram_chat_id).where(Identity.blocked_at.is_not(None)))
            )
            blocked_contact_chats = set(
                await session.scalars(
                    select(KeyAccountContact.telegram_chat_id).where(KeyAccountContact.telegram_blocked_at.is_not(None))
                )
            )

    per_chat = attempts_per_chat(calls)
    delivered = delivered_per_chat(calls)
    expected_calls = {chat: 1 + len(fate(chat)[1]) for chat in chats}
    early_after_429 = []  # (chat, seconds) a send came sooner than retry_after after the 429
    short_retry_gaps = []  # (chat, fate, seconds) a retry came sooner than the schedule allows
    for chat, tries in per_chat.items():
        for before, after in itertools.pairwise(tries):
            gap = after.at - before.at
            if before.status == 429 and gap < RETRY_AFTER:
                early_after_429.append((chat, round(gap, 3)))
            if before.status == 500 and gap < BASE / 2:
                short_retry_gaps.append((chat, fates[chat], round(gap, 3)))
            if before.status == 504 and gap < SEND_TIMEOUT + BASE / 2 - 0.05:
                short_retry_gaps.append((chat, fates[chat], round(gap, 3)))
    gaps_429 = [
        after.at - before.at
        for tries in per_chat.values()
        for before, after in itertools.pairwise(tries)
        if before.status == 429
    ]
    deliverable = [c for c in chats if fates[c] != "blocked"]
    figures = {
        "recipients": len(chats),
        "fates": dict(Counter(fates.values())),
        "send_attempts": len(calls),
        "send_attempts_allowed": sum(expected_calls.values()),
        "answers": dict(Counter(str(c.status) for c in calls)),
        "delivered": sum(1 for c in deliverable if delivered[c]),
        "deliverable": len(deliverable),
        "sent_twice": sum(1 for n in delivered.values() if n > 1),
        "min_gap_after_429_s": round(min(gaps_429), 3) if gaps_429 else None,
        "early_after_429": len(early_after_429),
        "retries_sooner_than_schedule": len(short_retry_gaps),
        "blocked_residents": sum(1 for c in seeded.resident_chats() if fates[c] == "blocked"),
        "blocked_contacts": len(blocked_contacts),
        "fallback_emails": len(smtp.messages),
        "seconds_to_settle": round(took, 2),
        "total_s": round(time.monotonic() - started, 2),
    }
    record_figures("faults/test_telegram_errors", **figures)

    assert all(delivered[c] == 1 for c in deliverable)  # every deliverable notice delivered, once
    assert {telegram[c].status for c in deliverable} == {"sent"}
    assert {c: len(per_chat[c]) for c in chats} == expected_calls  # no busy loop: exactly the tries scripted
    assert early_after_429 == [] and gaps_429  # retry_after honoured, per chat
    assert short_retry_gaps == []  # the backoff is kept
    assert {telegram[c].attempts for c in deliverable if fates[c] == "500x2"} == {3}
    assert {telegram[c].attempts for c in deliverable if fates[c] == "429"} == {1}  # a 429 is not an attempt
    blocked = {c for c in chats if fates[c] == "blocked"}
    assert {telegram[c].status for c in blocked} == {"blocked"}
    assert blocked_identities & set(seeded.resident_chats()) == blocked & set(seeded.resident_chats())
    assert blocked_contact_chats == set(blocked_contacts) and blocked_contacts  # at least one contact met a 403
    contact_numbers = [c - CONTACT_CHATS for c in blocked_contacts]
    assert sorted(e.address for e in emails) == sorted(Seeded.contact_email(n) for n in contact_numbers)
    assert {e.status for e in emails} == {"sent"}
    assert sorted(str(m["To"]) for m in smtp.messages) == sorted(Seeded.contact_email(n) for n in contact_numbers)
    assert all("计划停电" in str(m["Subject"]) for m in smtp.messages)


async def test_a_wrong_token_pauses_telegram_without_using_up_attempts(
    database_url: str, engine, sessionmaker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    seeded, outage_id = await world(engine, sessionmaker, database_url)
    pause = 2.0
    metrics_port = free_port()
    async with FakeTelegramApi() as api:
        api.fail_next("sendMessage", 401, times=100_000)  # every send: the token is wrong
        env = worker_env(
            database_url,
            telegram_token=TOKEN,
            telegram_api_base=api.base_url,
            **{**SETTINGS, "worker_metrics_port": metrics_port, "notice_channel_pause_seconds": pause},
        )
        log = tmp_path / "worker.log"
        with WorkerProcess(env, log):
            await wait_for(lambda: "telegram cannot send" in log.read_text(), 30, "the pause logged")
            waited = time.monotonic()
            await wait_for(lambda: time.monotonic() - waited > 2.5 * pause, 10, "two more pauses")
            page = await scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            paused_metric = metric(page, "gridtalk_deliveries_total", channel="telegram", status="channel_paused")
            async with sessionmaker() as session:
                while_down = {
                    (str(s), int(a)): int(n)
                    for s, a, n in await session.execute(
                        select(NoticeDelivery.status, NoticeDelivery.attempts, func.count())
                        .where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == "initial")
                        .group_by(NoticeDelivery.status, NoticeDelivery.attempts)
                    )
                }
            calls_401 = sum(1 for c in api.calls if c.status == 401)
            pauses_logged = len(re.findall(r"ERROR .*telegram cannot send", log.read_text()))
            api.clear_failures()  # the operator puts the right token in
            fixed = time.monotonic()

            async def all_sent() -> bool:
                return await status_counts(sessionmaker, outage_id, stage="initial") == {"sent": seeded.residents + 20}

            await wait_for(all_sent, 30, "everything sent once the token is right", 0.2)
            recovered = time.monotonic() - fixed
        async with sessionmaker() as session:
            attempts = set(
                await session.scalars(
                    select(NoticeDelivery.attempts).where(
                        NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == "initial"
                    )
                )
            )
    figures = {
        "deliveries": seeded.residents + 20,
        "pause_s": pause,
        "calls_answered_401": calls_401,
        "pauses_logged_at_error": pauses_logged,
        "metric_channel_paused": paused_metric,
        "rows_while_down": {f"{s}/attempts={a}": n for (s, a), n in while_down.items()},
        "attempts_after_recovery": sorted(attempts),
        "recovered_in_s": round(recovered, 2),
        "total_s": round(time.monotonic() - started, 2),
    }
    record_figures("faults/test_telegram_errors::401", **figures)

    assert pauses_logged >= 2 and paused_metric >= pauses_logged  # an alert per pause, logged and counted
    assert set(while_down) == {("pending", 0)}  # no attempt used up while the token was wrong
    # each pause costs at most the sends in flight when the first 401 came back (notice_concurrency)
    assert calls_401 <= (pauses_logged + 1) * 100
    assert attempts == {1}
    assert recovered < 3 * pause + 5
