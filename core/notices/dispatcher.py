"""The outbox dispatcher: claim due deliveries in batches, send them within the channels' limits, record
the results in batches.

A pipeline (PERF-NOTES.md): one claimer claims up to `notice_batch_size` rows at a time ('sending', with a
lease, committed), a bounded queue feeds `notice_concurrency` senders, and a recorder writes the results
every batch or 100 ms in one transaction. The claim and the result are both durable: a crash loses nothing
and repeats at most the rows claimed but not recorded, once their lease runs out.

Telegram sends share one TelegramLimiter (the global rate, one message a second per chat, 429 pauses).
Results: sent; a temporary failure (5xx, timeout) goes back to pending with an exponential, jittered
delay until `notice_max_attempts`, then failed; a 403 marks the identity (or the key-account contact's
Telegram) blocked and, for a contact, queues the same notice by email; a permanent failure is failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.models import NoticeDelivery
from core.notices.channels import (
    DeliveryError,
    NoticeChannel,
    PermanentFailure,
    RecipientBlocked,
    RetryAfter,
    TemporaryFailure,
)
from core.notices.planning import KEY_IDENTITY_PRIORITY, STAFF_PRIORITY
from core.notices.ratelimit import Limiter, TelegramLimiter, retry_delay
from core.notices.render import NoticeRenderer, OutageFacts, RenderedNotice, load_outage_facts
from core.notices.repository import KEY_SEGMENT, STAFF_SEGMENT, KeyAccountInfo, NoticeRepository
from core.security import mask_digits

log = logging.getLogger("gridtalk.notices.dispatcher")

FLUSH_SECONDS = 0.1
MAX_INLINE_429 = 5  # 429s waited out in place before the row goes back to the outbox


@dataclass(slots=True)
class Job:
    delivery: NoticeDelivery
    notice: RenderedNotice
    tier: Tier | None = None


class Tier:
    """Deliveries of one rank in flight: alerts to managers, then key accounts, then everybody else. A
    lower rank starts only when every send of the rank above has finished, so that at any rate and
    concurrency every key-account notice goes before any residential one."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.remaining = 0
        self.done = asyncio.Event()
        self.done.set()

    @staticmethod
    def rank_of(delivery: NoticeDelivery) -> int:
        if delivery.priority >= STAFF_PRIORITY:
            return 2
        return 1 if delivery.priority >= KEY_IDENTITY_PRIORITY else 0

    def started(self) -> None:
        self.remaining += 1
        self.done.clear()

    def finished(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


@dataclass(slots=True)
class Outcome:
    delivery: NoticeDelivery
    status: str  # sent | pending | failed | blocked
    at: datetime
    next_attempt_at: datetime | None = None
    error: str | None = None


class Dispatcher:
    """Sends the outbox. One per worker process: its limiter (and any 429 pause) lasts across ticks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        channels: Mapping[str, NoticeChannel],
        renderer: NoticeRenderer,
        *,
        limiter: Limiter | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.settings = settings
        self.channels = dict(channels)
        self.renderer = renderer
        self.limiter: Limiter = limiter or TelegramLimiter(settings.notice_rate_limit, settings.notice_chat_interval)
        self.jitter = jitter
        self._results: list[Outcome] = []
        self._flush_now = asyncio.Event()
        self._waiting_logged: set[str] = set()

    # ------------------------------------------------------------------------------------ one tick

    async def run_once(self) -> int:
        """Send everything due now; return how many deliveries were handled (sent, retried, failed...)."""
        await self._log_waiting()
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.settings.notice_batch_size)
        senders = max(1, self.settings.notice_concurrency)
        handled = 0
        claiming_done = asyncio.Event()

        async def claimer() -> None:
            nonlocal handled
            tier: Tier | None = None
            try:
                while True:
                    jobs = await self._claim()
                    if not jobs:
                        return
                    handled += len(jobs)
                    for job in jobs:
                        rank = Tier.rank_of(job.delivery)
                        if tier is None or tier.rank != rank:
                            if tier is not None and tier.rank > rank:
                                await tier.done.wait()  # the rank above is all out first
                            tier = Tier(rank)
                        job.tier = tier
                        tier.started()
                        await queue.put(job)
            finally:
                for _ in range(senders):
                    await queue.put(None)

        async def sender() -> None:
            while (job := await queue.get()) is not None:
                try:
                    outcome = await self._send(job)  # (not inside append(): a flush swaps the list meanwhile)
                finally:
                    if job.tier is not None:
                        job.tier.finished()
                self._results.append(outcome)
                if len(self._results) >= self.settings.notice_batch_size:
                    self._flush_now.set()

        async def recorder() -> None:
            while not claiming_done.is_set() or self._results:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), FLUSH_SECONDS)
                self._flush_now.clear()
                await self._flush()

        record_task = asyncio.create_task(recorder())
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(claimer())
                for _ in range(senders):
                    group.create_task(sender())
        finally:
            claiming_done.set()
            self._flush_now.set()
            await record_task
        return handled

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
        await self.limiter.aclose()

    # --------------------------------------------------------------------------------------- claim

    async def _claim(self) -> list[Job]:
        now = self.clock.now()
        lease = now + timedelta(seconds=self.settings.notice_lease_seconds)
        async with session_scope(self.sessionmaker) as session:
            repo = NoticeRepository(session)
            rows = await repo.claim(now, self.settings.notice_batch_size, self.channels.keys(), lease)
            if not rows:
                return []
            facts = {outage_id: await load_outage_facts(repo, outage_id) for outage_id in {r.outage_id for r in rows}}
            keys = await repo.key_accounts(
                {r.account_id for r in rows if r.account_id and r.segment in (KEY_SEGMENT, STAFF_SEGMENT)}
            )
            contacts = await self._staff_context(repo, rows)
        jobs = []
        rendered: dict[tuple[object, ...], RenderedNotice] = {}  # residential notices of a stage are alike
        for row in rows:
            try:
                same = (row.outage_id, row.stage, row.language, row.channel, row.segment)
                shared = row.segment not in (KEY_SEGMENT, STAFF_SEGMENT)
                notice = rendered.get(same) if shared else None
                if notice is None:
                    notice = self._render(row, facts[row.outage_id], keys.get(row.account_id or 0), contacts)
                    if shared:
                        rendered[same] = notice
                notice = self.renderer.for_delivery(notice, row.id)
            except Exception as exc:  # a template error must not stop the other notices
                log.exception("cannot render delivery %s", row.id)
                self._results.append(Outcome(row, "failed", now, error=f"render: {type(exc).__name__}: {exc}"))
                continue
            jobs.append(Job(row, notice))
        return jobs

    @staticmethod
    async def _staff_context(repo: NoticeRepository, rows: list[NoticeDelivery]) -> dict[int, list[str]]:
        """For alerts to managers: the names of the contacts concerned, by delivery id."""
        names: dict[int, list[str]] = {}
        for row in rows:
            if row.segment != STAFF_SEGMENT or row.account_id is None:
                continue
            if row.stage == "problem" and row.key_contact_id is not None:
                contact = (await repo.contacts([row.key_contact_id])).get(row.key_contact_id)
                names[row.id] = [contact.name] if contact else []
            else:
                names[row.id] = await repo.unconfirmed_contact_names(row.outage_id, row.account_id, row.revision)
        return names

    def _render(
        self,
        row: NoticeDelivery,
        facts: OutageFacts,
        key: KeyAccountInfo | None,
        staff_names: Mapping[int, list[str]],
    ) -> RenderedNotice:
        if row.segment == STAFF_SEGMENT:
            assert key is not None, "an alert to a manager names the key account"
            return self.renderer.manager_alert(
                "problem" if row.stage == "problem" else "unconfirmed",
                row.language,
                facts,
                key,
                contacts=staff_names.get(row.id, []),
                sent_at=None,
                minutes=self.settings.notice_confirm_minutes,
            )
        return self.renderer.notice(
            row.stage,
            row.language,
            facts,
            key=key if row.segment == KEY_SEGMENT else None,
            delivery_id=row.id,
            channel=row.channel,
        )

    # ---------------------------------------------------------------------------------------- send

    async def _send(self, job: Job) -> Outcome:
        row = job.delivery
        channel = self.channels[row.channel]
        telegram = row.channel == "telegram"
        for _ in range(MAX_INLINE_429 + 1):
            if telegram:
                await self.limiter.acquire(row.telegram_chat_id or row.address)
            try:
                async with asyncio.timeout(self.settings.notice_send_timeout):  # (no extra task, unlike wait_for)
                    await channel.deliver(row.address, job.notice)
            except RetryAfter as exc:
                if telegram:
                    await self.limiter.pause(exc.retry_after)
                log.warning("%s asks to wait %.0f s (delivery %s)", row.channel, exc.retry_after, row.id)
                if not telegram or exc.retry_after > self.settings.notice_lease_seconds / 4:
                    later = self.clock.now() + timedelta(seconds=exc.retry_after)
                    return Outcome(row, "pending", self.clock.now(), next_attempt_at=later, error=str(exc))
                continue  # wait the pause out (acquire does) and send again
            except RecipientBlocked as exc:
                return Outcome(row, "blocked", self.clock.now(), error=str(exc))
            except PermanentFailure as exc:
                return Outcome(row, "failed", self.clock.now(), error=str(exc))
            except (TemporaryFailure, TimeoutError) as exc:
                return self._retry(row, f"{type(exc).__name__}: {exc}" if isinstance(exc, TimeoutError) else str(exc))
            except DeliveryError as exc:
                return self._retry(row, str(exc))
            except Exception as exc:  # a bug in a channel: retried like a temporary failure, and logged
                log.exception("delivery %s on %s failed unexpectedly", row.id, row.channel)
                return self._retry(row, f"{type(exc).__name__}: {exc}")
            else:
                return Outcome(row, "sent", self.clock.now())
        later = self.clock.now() + timedelta(seconds=max(self.limiter.paused_for(), 1.0))
        return Outcome(row, "pending", self.clock.now(), next_attempt_at=later, error="repeated 429")

    def _retry(self, row: NoticeDelivery, error: str) -> Outcome:
        now = self.clock.now()
        if row.attempts >= self.settings.notice_max_attempts:
            return Outcome(row, "failed", now, error=f"{error} (after {row.attempts} attempts)")
        delay = retry_delay(
            row.attempts, self.settings.notice_retry_base_seconds, self.settings.notice_retry_max_seconds, self.jitter()
        )
        return Outcome(row, "pending", now, next_attempt_at=now + timedelta(seconds=delay), error=error)

    # -------------------------------------------------------------------------------------- record

    async def _flush(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        async with session_scope(self.sessionmaker) as session:
            repo = NoticeRepository(session)
            await repo.record(
                [
                    {
                        "b_id": o.delivery.id,
                        "b_status": o.status,
                        "b_next": o.next_attempt_at,
                        "b_sent": o.at if o.status == "sent" else o.delivery.sent_at,
                        "b_error": o.error,
                    }
                    for o in results
                ]
            )
            blocked = [o.delivery for o in results if o.status == "blocked"]
            if blocked:
                await self._after_blocked(repo, blocked)
        for o in results:
            if o.status != "sent":
                log.info(
                    "delivery %s (%s, %s) %s: %s",
                    o.delivery.id,
                    o.delivery.channel,
                    o.delivery.stage,
                    o.status,
                    mask_digits(o.error or ""),
                )

    async def _after_blocked(self, repo: NoticeRepository, blocked: list[NoticeDelivery]) -> None:
        """403: the identity is marked blocked (no more notices to it); a key-account contact's Telegram is
        marked blocked and the same notice goes to them by email (or SMS) instead."""
        now = self.clock.now()
        telegram = [d for d in blocked if d.channel == "telegram"]
        await repo.mark_identities_blocked(
            [d.telegram_chat_id for d in telegram if d.identity_id is not None and d.telegram_chat_id is not None], now
        )
        contact_rows = [d for d in telegram if d.key_contact_id is not None and d.segment != STAFF_SEGMENT]
        if not contact_rows:
            return
        await repo.mark_contacts_blocked([d.key_contact_id for d in contact_rows if d.key_contact_id], now)
        contacts = await repo.contacts([d.key_contact_id for d in contact_rows if d.key_contact_id])
        fallbacks: list[dict[str, Any]] = []
        for d in contact_rows:
            contact = contacts.get(d.key_contact_id or 0)
            if contact is None:
                continue
            if contact.email:
                route = ("email", contact.email)
            elif contact.phone and "sms" in self.channels:
                route = ("sms", contact.phone)
            else:
                log.warning("key-account contact %s blocked the bot and has no email: not reachable", contact.id)
                continue
            fallbacks.append(
                {
                    "outage_id": d.outage_id,
                    "contact_key": d.contact_key,
                    "identity_id": None,
                    "key_contact_id": d.key_contact_id,
                    "account_id": d.account_id,
                    "segment": d.segment,
                    "stage": d.stage,
                    "revision": d.revision,
                    "channel": route[0],
                    "address": route[1],
                    "telegram_chat_id": None,
                    "language": d.language,
                    "priority": d.priority,
                    "due_at": d.due_at,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        await repo.insert_deliveries(fallbacks)

    async def _log_waiting(self) -> None:
        """Say once per channel when deliveries wait for a channel this worker cannot send on."""
        missing = {"telegram", "email", "sms"} - set(self.channels) - self._waiting_logged
        if not missing:
            return
        async with session_scope(self.sessionmaker) as session:
            for channel in sorted(missing):
                waiting = await NoticeRepository(session).waiting_on([channel], self.clock.now())
                if waiting:
                    self._waiting_logged.add(channel)
                    hint = {
                        "telegram": "GRIDTALK_TELEGRAM_TOKEN",
                        "email": "GRIDTALK_SMTP_HOST",
                        "sms": "GRIDTALK_SMS_WEBHOOK_URL",
                    }[channel]
                    log.warning(
                        "%d %s deliveries are due but %s is not set: they wait in the outbox until it is",
                        waiting,
                        channel,
                        hint,
                    )
