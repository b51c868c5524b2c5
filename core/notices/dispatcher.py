"""The outbox dispatcher: claim due deliveries in batches, send them within the channels' limits, record
the results in batches.

A pipeline (PERF-NOTES.md): one claimer claims up to `notice_batch_size` rows at a time ('sending', with a
lease, committed), a bounded queue feeds `notice_concurrency` senders, and a recorder writes the results
every batch or 100 ms in one transaction. The claim and the result are both durable: a crash loses nothing
and repeats at most the rows claimed but not recorded, once their lease runs out.

Telegram sends share one TelegramLimiter (the global rate, one message a second per chat, 429 pauses).
Results: sent; a temporary failure (5xx, timeout) goes back to pending with an exponential, jittered
delay until `notice_max_attempts`, then failed; a 403 marks the identity (or the key-account contact's
Telegram) blocked and, for a contact, queues the same notice on the routes left to them (email, SMS); a
permanent failure is failed. A row claimed after its deadline is skipped, not sent late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.models import NoticeDelivery
from core.models.enums import DeliveryStatus, Tier
from core.notices.blocked import after_blocked
from core.notices.channels import (
    DeliveryError,
    NoticeChannel,
    PermanentFailure,
    RecipientBlocked,
    RetryAfter,
    TemporaryFailure,
)
from core.notices.ratelimit import Limiter, TelegramLimiter, retry_delay
from core.notices.render import NoticeRenderer, RenderedNotice
from core.notices.repository import OutboxRepository
from core.notices.subjects import Render, subject_renderers
from core.observability.metrics import Metrics
from core.security import mask_digits

log = logging.getLogger("gridtalk.notices.dispatcher")

FLUSH_SECONDS = 0.1
MAX_INLINE_429 = 5  # 429s waited out in place before the row goes back to the outbox
SETTING_OF_CHANNEL = {
    "telegram": "GRIDTALK_TELEGRAM_TOKEN",
    "email": "GRIDTALK_SMTP_HOST",
    "sms": "GRIDTALK_SMS_WEBHOOK_URL",
}


@dataclass(slots=True)
class Job:
    delivery: NoticeDelivery
    notice: RenderedNotice
    flight: InFlight | None = None


class InFlight:
    """Deliveries of one tier in flight (staff alerts, then key accounts, then everybody else). A lower
    tier starts only when every send of the tier above has finished, so that at any rate and concurrency
    every key-account notice goes before any residential one."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.remaining = 0
        self.done = asyncio.Event()
        self.done.set()

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
    status: DeliveryStatus
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
        metrics: Metrics | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.settings = settings
        self.channels = dict(channels)
        self.renderer = renderer
        self.subjects = subject_renderers(renderer, settings)
        self.limiter: Limiter = limiter or TelegramLimiter(settings.notice_rate_limit, settings.notice_chat_interval)
        self.jitter = jitter
        self.metrics = metrics
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
            flight: InFlight | None = None
            try:
                while True:
                    jobs = await self._claim()
                    if not jobs:
                        return
                    handled += len(jobs)
                    for job in jobs:
                        tier = Tier(job.delivery.tier)
                        if flight is None or flight.tier != tier:
                            if flight is not None and flight.tier < tier:
                                await flight.done.wait()  # the tier above is all out first
                            flight = InFlight(tier)
                        job.flight = flight
                        flight.started()
                        await queue.put(job)
            finally:
                for _ in range(senders):
                    await queue.put(None)

        async def sender() -> None:
            while (job := await queue.get()) is not None:
                try:
                    outcome = await self._send(job)  # (not inside append(): a flush swaps the list meanwhile)
                finally:
                    if job.flight is not None:
                        job.flight.finished()
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
            repo = OutboxRepository(session)
            rows = await repo.claim(now, self.settings.notice_batch_size, self.channels.keys(), lease)
            late = [r for r in rows if r.deadline_at is not None and r.deadline_at <= now]
            rows = [r for r in rows if r.deadline_at is None or r.deadline_at > now]
            self._results += [Outcome(r, DeliveryStatus.SKIPPED, now, error="deadline passed") for r in late]
            if not rows:
                return []
            renders: dict[str, Render] = {}
            for kind in sorted({r.subject_kind for r in rows}):
                renders[kind] = await self.subjects[kind].load(session, [r for r in rows if r.subject_kind == kind])
        jobs = []
        for row in rows:
            try:
                notice = renders[row.subject_kind](row)
            except Exception as exc:  # a template error must not stop the other notices
                log.exception("cannot render delivery %s", row.id)
                self._results.append(
                    Outcome(row, DeliveryStatus.FAILED, now, error=f"render: {type(exc).__name__}: {exc}")
                )
                continue
            jobs.append(Job(row, notice))
        return jobs

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
                    return Outcome(row, DeliveryStatus.PENDING, self.clock.now(), next_attempt_at=later, error=str(exc))
                continue  # wait the pause out (acquire does) and send again
            except RecipientBlocked as exc:
                return Outcome(row, DeliveryStatus.BLOCKED, self.clock.now(), error=str(exc))
            except PermanentFailure as exc:
                return Outcome(row, DeliveryStatus.FAILED, self.clock.now(), error=str(exc))
            except (TemporaryFailure, TimeoutError) as exc:
                return self._retry(row, f"{type(exc).__name__}: {exc}" if isinstance(exc, TimeoutError) else str(exc))
            except DeliveryError as exc:
                return self._retry(row, str(exc))
            except Exception as exc:  # a bug in a channel: retried like a temporary failure, and logged
                log.exception("delivery %s on %s failed unexpectedly", row.id, row.channel)
                return self._retry(row, f"{type(exc).__name__}: {exc}")
            else:
                return Outcome(row, DeliveryStatus.SENT, self.clock.now())
        later = self.clock.now() + timedelta(seconds=max(self.limiter.paused_for(), 1.0))
        return Outcome(row, DeliveryStatus.PENDING, self.clock.now(), next_attempt_at=later, error="repeated 429")

    def _retry(self, row: NoticeDelivery, error: str) -> Outcome:
        now = self.clock.now()
        if row.attempts >= self.settings.notice_max_attempts:
            return Outcome(row, DeliveryStatus.FAILED, now, error=f"{error} (after {row.attempts} attempts)")
        delay = retry_delay(
            row.attempts, self.settings.notice_retry_base_seconds, self.settings.notice_retry_max_seconds, self.jitter()
        )
        return Outcome(row, DeliveryStatus.PENDING, now, next_attempt_at=now + timedelta(seconds=delay), error=error)

    # -------------------------------------------------------------------------------------- record

    async def _flush(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        async with session_scope(self.sessionmaker) as session:
            await OutboxRepository(session).record(
                [
                    {
                        "b_id": o.delivery.id,
                        "b_status": o.status,
                        "b_next": o.next_attempt_at,
                        "b_sent": o.at if o.status == DeliveryStatus.SENT else o.delivery.sent_at,
                        "b_error": o.error,
                    }
                    for o in results
                ]
            )
            blocked = [o.delivery for o in results if o.status == DeliveryStatus.BLOCKED]
            if blocked:
                await after_blocked(session, self.clock.now(), self.channels.keys(), blocked)
        if self.metrics is not None:
            for o in results:
                self.metrics.delivery(o.delivery.stage, o.delivery.channel, o.status)
        for o in results:
            if o.status != DeliveryStatus.SENT:
                log.info(
                    "delivery %s (%s, %s) %s: %s",
                    o.delivery.id,
                    o.delivery.channel,
                    o.delivery.stage,
                    o.status,
                    mask_digits(o.error or ""),
                )

    async def _log_waiting(self) -> None:
        """Say once per channel when deliveries wait for a channel this worker cannot send on."""
        missing = set(SETTING_OF_CHANNEL) - set(self.channels) - self._waiting_logged
        if not missing:
            return
        async with session_scope(self.sessionmaker) as session:
            for channel in sorted(missing):
                waiting = await OutboxRepository(session).waiting_on([channel], self.clock.now())
                if waiting:
                    self._waiting_logged.add(channel)
                    hint = SETTING_OF_CHANNEL[channel]
                    log.warning(
                        "%d %s deliveries are due but %s is not set: they wait until it is", waiting, channel, hint
                    )
