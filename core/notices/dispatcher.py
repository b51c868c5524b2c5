"""The outbox dispatcher: claim due deliveries in batches, send them within the channels' limits, record
the results in batches.

A pipeline (PERF-NOTES.md): one claimer claims up to `notice_batch_size` rows at a time ('sending', with a
lease, committed; the next claim already running while a batch waits for room), a bounded queue feeds
`notice_concurrency` senders, and a recorder writes the results every half batch or 100 ms in one transaction.
The claim and the result are both durable: a crash loses nothing and repeats at most the rows sent but not
recorded, once their lease runs out; a window keeps those (sends in flight and results not yet committed) to one
batch, however far the recorder falls behind.

Telegram sends share one TelegramLimiter (the global rate, one message a second per chat, 429 pauses, and
a window that keeps sends delayed by a busy moment from arriving bunched over Telegram's cap).
Results: sent; a temporary failure (5xx, timeout) goes back to pending with an exponential, jittered
delay until the row's deadline (rows without one: until `notice_max_attempts`), then failed; a 403 marks the
identity (or the key-account contact's Telegram) blocked and, for a contact, queues the same notice on the
routes left to them (email; SMS without one); a permanent failure is failed, and a key-account contact no
route reached gets an SMS (the last resort). A channel that cannot send at all (a 401:
wrong bot token; the network down) is paused for `notice_channel_pause_seconds` without using up attempts.

Promises kept at claim time: a row past its deadline is skipped, not sent late; an advance notice whose
later stage (same outage and audience) has started is skipped (superseded); a residential advance notice
claimed inside the quiet hours goes back to pending until they end. A final confirmation sent after its
due time says so in last_error ("late: ...").

Exactly once as far as the outside allows: each claim has a random token stored on its rows, and a result
is recorded only on rows still 'sending' under that token (a row cancelled meanwhile, or claimed again by
another worker after the lease ran out, is left alone). The leases of the rows a tick holds are renewed
while it waits (a long 429 pause, slow sends), so they are not claimed by another worker meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.models import NoticeDelivery
from core.models.enums import DeliveryStatus, Tier
from core.notices.blocked import after_unreached
from core.notices.channels import (
    ChannelDown,
    DeliveryError,
    NoticeChannel,
    PermanentFailure,
    RecipientBlocked,
    RetryAfter,
    TemporaryFailure,
)
from core.notices.jobs import InFlight, Job, Outcome
from core.notices.queue_repository import QueueRepository
from core.notices.ratelimit import Limiter, TelegramLimiter, retry_delay
from core.notices.render import NoticeRenderer
from core.notices.send_rules import (
    SETTING_OF_CHANNEL,
    ChannelPauses,
    advance_outages,
    channel_down,
    late_note,
    superseded_rows,
    waits_for_quiet_hours,
)
from core.notices.subjects import Render, subject_renderers
from core.observability.metrics import Metrics
from core.outages.planner import PlannerRules, end_of_quiet_hours, in_quiet_hours
from core.security import mask_digits

log = logging.getLogger("gridtalk.notices.dispatcher")

FLUSH_SECONDS = 0.1
MAX_INLINE_429 = 5  # 429s waited out in place before the row goes back to the outbox


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
        self._window = asyncio.Semaphore(settings.notice_batch_size)  # sends not yet recorded (made per tick)
        self._flush_now = asyncio.Event()
        self._waiting_logged: set[str] = set()
        self.rules = PlannerRules.from_settings(settings)
        self.pauses = ChannelPauses(settings.notice_channel_pause_seconds, metrics)
        self._held: set[str] = set()  # claim tokens of this tick (their 'sending' rows have their lease renewed)
        self._renewed_at = time.monotonic()

    # ------------------------------------------------------------------------------------ one tick

    async def run_once(self) -> int:
        """Send everything due now; return how many deliveries were handled (sent, retried, failed...)."""
        await self._log_waiting()
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.settings.notice_batch_size)
        senders = max(1, self.settings.notice_concurrency)
        handled = 0
        claiming_done = asyncio.Event()
        self._window = asyncio.Semaphore(self.settings.notice_batch_size)

        async def claimer() -> None:
            nonlocal handled
            flight: InFlight | None = None
            upcoming: asyncio.Task[list[Job] | None] = asyncio.create_task(self._claim())
            try:
                while True:
                    jobs = await upcoming
                    if jobs is None:
                        return
                    # the next claim runs while this batch waits for room in the queue: a slow database is
                    # hidden behind a batch of sends instead of leaving the senders idle
                    upcoming = asyncio.create_task(self._claim())
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
                if not upcoming.done():  # (the tick is failing: its rows come back when their lease ends)
                    upcoming.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await upcoming
                for _ in range(senders):
                    await queue.put(None)

        async def sender() -> None:
            while (job := await queue.get()) is not None:
                if self._window.locked():
                    self._flush_now.set()
                await self._window.acquire()  # given back once its result is committed
                try:
                    outcome = await self._send(job)  # (not inside append(): a flush swaps the list meanwhile)
                except Exception as exc:  # never let one row stop the tick
                    log.exception("delivery %s: unexpected error", job.delivery.id)
                    outcome = self._retry(job.delivery, f"{type(exc).__name__}: {exc}", counts=False)
                finally:
                    if job.flight is not None:
                        job.flight.finished()
                outcome.holds_slot = True
                self._results.append(outcome)
                if len(self._results) >= max(1, self.settings.notice_batch_size // 2):
                    self._flush_now.set()

        async def recorder() -> None:
            while not claiming_done.is_set() or self._results:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), FLUSH_SECONDS)
                self._flush_now.clear()
                try:
                    await self._flush()
                except Exception:  # the database is gone: those rows come back when their lease runs out
                    log.exception("cannot record send results")
                if time.monotonic() - self._renewed_at >= self.settings.notice_lease_seconds / 3:
                    await self._renew()

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
            self._held.clear()
        return handled

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
        await self.limiter.aclose()

    # --------------------------------------------------------------------------------------- claim

    async def _claim(self) -> list[Job] | None:
        """The jobs of one claim; None when nothing was due (an empty list: all were settled without a send)."""
        now = self.clock.now()
        lease = now + timedelta(seconds=self.settings.notice_lease_seconds)
        channels = [c for c in self.channels if not self.pauses.paused(c, now)]
        token = secrets.token_hex(16)
        async with session_scope(self.sessionmaker) as session:
            repo = QueueRepository(session)
            claimed = await repo.claim(now, self.settings.notice_batch_size, channels, lease, token)
            if not claimed:
                return None
            self._held.add(token)
            advance = advance_outages(claimed)
            superseded = superseded_rows(claimed, await repo.started_stages(advance, now))
            # (only asked inside the quiet hours: outside them no notice waits, urgent or not)
            urgent = await repo.fault_outages(advance) if in_quiet_hours(now, self.rules) else set()
            rows = []
            for r in claimed:
                if r.deadline_at is not None and r.deadline_at <= now:
                    self._results.append(self._not_tried(r, DeliveryStatus.SKIPPED, "deadline passed"))
                elif r.id in superseded:
                    self._results.append(self._not_tried(r, DeliveryStatus.SKIPPED, superseded[r.id]))
                elif waits_for_quiet_hours(r, now, self.rules, urgent):
                    later = end_of_quiet_hours(now, self.rules)
                    self._results.append(self._not_tried(r, DeliveryStatus.PENDING, "quiet hours", later))
                else:
                    rows.append(r)
            if not rows:
                self._flush_now.set()
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

    def _not_tried(
        self, row: NoticeDelivery, status: DeliveryStatus, error: str, later: datetime | None = None
    ) -> Outcome:
        """An outcome decided without a send: the claim's attempt does not count."""
        return Outcome(row, status, self.clock.now(), next_attempt_at=later, error=error, attempts=row.attempts - 1)

    async def _renew(self, extra: float = 0.0) -> None:
        """Extend the leases of the rows this tick holds (still 'sending' under its claims)."""
        self._renewed_at = time.monotonic()
        if not self._held:
            return
        until = self.clock.now() + timedelta(seconds=self.settings.notice_lease_seconds + extra)
        try:
            async with session_scope(self.sessionmaker) as session:
                await QueueRepository(session).renew(list(self._held), until)
        except Exception:  # the lease runs out then: at worst a row is sent again, as after a crash
            log.exception("cannot renew the leases of claimed deliveries")

    # ---------------------------------------------------------------------------------------- send

    async def _send(self, job: Job) -> Outcome:
        row = job.delivery
        channel = self.channels[row.channel]
        telegram = row.channel == "telegram"
        for _ in range(MAX_INLINE_429 + 1):
            now = self.clock.now()
            if self.pauses.paused(row.channel, now):
                return self._not_tried(row, DeliveryStatus.PENDING, "channel paused", self.pauses.until(row.channel))
            if row.deadline_at is not None and row.deadline_at <= now:
                return self._not_tried(row, DeliveryStatus.SKIPPED, "deadline passed")
            if telegram:
                try:
                    await self.limiter.acquire(row.telegram_chat_id or row.address)
                except Exception as exc:  # the shared limiter (Redis) is down: this row waits, the tick goes on
                    log.warning("rate limiter unavailable (%s: %s): delivery %s later", type(exc).__name__, exc, row.id)
                    return self._retry(row, f"limiter: {type(exc).__name__}: {exc}", counts=False)
            try:
                async with asyncio.timeout(self.settings.notice_send_timeout):  # (no extra task, unlike wait_for)
                    await channel.deliver(row.address, job.notice)
            except RetryAfter as exc:
                if telegram:
                    with contextlib.suppress(Exception):  # (a limiter that is down: the acquire above says so)
                        await self.limiter.pause(exc.retry_after)
                log.warning("%s asks to wait %.0f s (delivery %s)", row.channel, exc.retry_after, row.id)
                if exc.retry_after > self.settings.notice_lease_seconds / 4:
                    await self._renew(extra=exc.retry_after)  # the rows waiting behind the pause stay ours
                if not telegram or exc.retry_after > self.settings.notice_lease_seconds / 4:
                    later = self.clock.now() + timedelta(seconds=exc.retry_after)
                    return Outcome(row, DeliveryStatus.PENDING, self.clock.now(), next_attempt_at=later, error=str(exc))
                continue  # wait the pause out (acquire does) and send again
            except RecipientBlocked as exc:
                return Outcome(row, DeliveryStatus.BLOCKED, self.clock.now(), error=str(exc))
            except PermanentFailure as exc:
                return Outcome(row, DeliveryStatus.FAILED, self.clock.now(), error=str(exc))
            except ChannelDown as exc:
                until = self.pauses.pause(row.channel, str(exc), self.clock.now())
                return self._not_tried(row, DeliveryStatus.PENDING, str(exc), until)
            except (TemporaryFailure, TimeoutError) as exc:
                if channel_down(exc):
                    until = self.pauses.pause(row.channel, str(exc), self.clock.now())
                    return self._not_tried(row, DeliveryStatus.PENDING, str(exc), until)
                return self._retry(row, f"{type(exc).__name__}: {exc}" if isinstance(exc, TimeoutError) else str(exc))
            except DeliveryError as exc:
                return self._retry(row, str(exc))
            except Exception as exc:  # a bug in a channel: retried like a temporary failure, and logged
                log.exception("delivery %s on %s failed unexpectedly", row.id, row.channel)
                return self._retry(row, f"{type(exc).__name__}: {exc}")
            else:
                return Outcome(row, DeliveryStatus.SENT, self.clock.now(), error=late_note(row, self.clock.now()))
        later = self.clock.now() + timedelta(seconds=max(self.limiter.paused_for(), 1.0))
        return Outcome(row, DeliveryStatus.PENDING, self.clock.now(), next_attempt_at=later, error="repeated 429")

    def _retry(self, row: NoticeDelivery, error: str, *, counts: bool = True) -> Outcome:
        """Try again later, with exponential backoff and jitter: until the row's deadline (a retry that
        would come after it gives up now), or, without a deadline, until `notice_max_attempts`.
        counts=False: the attempt was not really made (the limiter was down) and is given back."""
        now = self.clock.now()
        attempts = row.attempts if counts else max(row.attempts - 1, 0)
        delay = retry_delay(
            max(attempts, 1),
            self.settings.notice_retry_base_seconds,
            self.settings.notice_retry_max_seconds,
            self.jitter(),
        )
        later = now + timedelta(seconds=delay)
        if row.deadline_at is not None:
            if later >= row.deadline_at:
                return Outcome(
                    row,
                    DeliveryStatus.FAILED,
                    now,
                    error=f"{error} (deadline reached after {attempts} attempts)",
                    attempts=attempts,
                )
        elif counts and attempts >= self.settings.notice_max_attempts:
            return Outcome(row, DeliveryStatus.FAILED, now, error=f"{error} (after {attempts} attempts)")
        return Outcome(row, DeliveryStatus.PENDING, now, next_attempt_at=later, error=error, attempts=attempts)

    # -------------------------------------------------------------------------------------- record

    async def _flush(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            await self._record(results)
        finally:  # committed (or lost with the database: the lease brings those rows back)
            for _ in range(sum(1 for o in results if o.holds_slot)):
                self._window.release()

    async def _record(self, results: list[Outcome]) -> None:
        async with session_scope(self.sessionmaker) as session:
            await QueueRepository(session).record([o.recorded() for o in results])
            blocked = [o.delivery for o in results if o.status == DeliveryStatus.BLOCKED]
            failed = [o.delivery for o in results if o.status == DeliveryStatus.FAILED]
            if blocked or failed:
                await after_unreached(session, self.clock.now(), self.channels.keys(), blocked=blocked, failed=failed)
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
                waiting = await QueueRepository(session).waiting_on([channel], self.clock.now())
                if waiting:
                    self._waiting_logged.add(channel)
                    hint = SETTING_OF_CHANNEL[channel]
                    log.warning(
                        "%d %s deliveries are due but %s is not set: they wait until it is", waiting, channel, hint
                    )
