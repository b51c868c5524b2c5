"""The worker process: background jobs run tick by tick (`gridtalk worker --once` runs one tick).

Jobs, each in its own unit of work, each idempotent (running one twice changes nothing):
  plan_notices    published planned outages without a notice plan get one (outages loaded as data)
  start_stages    notice stages whose time to start sending has come: audience resolved again, rows released
  chase_confirms  final confirmations unanswered for notice_confirm_minutes: the account manager is alerted
  chase_escalations  escalations past the first-response target: supervisors alerted, the customer told again
  offer_surveys   conversations quiet for GRIDTALK_SURVEY_QUIET_MINUTES after the bot answered a billing,
                  outage or FAQ question get the satisfaction survey (core.feedback.surveys); once a minute
  bill_reminders  unpaid bills due soon or overdue: reminders queued for the customers who opted in, and those
                  of bills paid meanwhile cancelled (core.billing.reminders)
  send_notices    the outbox dispatcher: claims due deliveries and sends them (Telegram, email, SMS)
  purge_transcripts  once a day: message text older than GRIDTALK_RETENTION_DAYS cleared (core.privacy); 0: off

A tick runs them in that order. Running for good, the dispatcher keeps its own loop (a big stage takes
audience ÷ rate seconds to send) while the others tick every `interval` seconds beside it.

Channels come from the settings: Telegram with GRIDTALK_TELEGRAM_TOKEN (and GRIDTALK_TELEGRAM_API_BASE),
email with GRIDTALK_SMTP_HOST, SMS with GRIDTALK_SMS_WEBHOOK_URL. Deliveries on a channel that is not
configured wait in the outbox (pending, shown by the API) and go out once it is; the worker says so once.
Telegram's limits are kept per worker, or by all workers together through Redis with GRIDTALK_REDIS_URL.

Each tick of the jobs (and the worker's start) records this worker's heartbeat (`worker@host:pid`, table
worker_heartbeats): /readyz reports a worker whose last beat is older than GRIDTALK_WORKER_STALE_SECONDS as stale.

Running for good, the worker serves Prometheus /metrics on GRIDTALK_API_HOST:GRIDTALK_WORKER_METRICS_PORT
(send results as they are recorded; outbox and escalation gauges read from the database at each scrape).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import database_unreachable, make_engine, make_sessionmaker, session_scope
from core.notices.channels import NoticeChannel
from core.notices.dispatcher import Dispatcher
from core.notices.email import EmailChannel
from core.notices.ratelimit import Limiter, TelegramLimiter
from core.notices.sms import SmsWebhookChannel
from core.observability import Metrics, serve_metrics
from core.operations.heartbeat import Heartbeats, worker_name
from core.services import CoreServices

log = logging.getLogger("gridtalk.worker")

Job = Callable[[], Awaitable[int]]


class DatabaseWatch:
    """Says once that the database is unreachable and once that it is back, instead of a traceback from
    every job on every tick while it is down (the jobs simply run again on the next tick)."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def failed(self, what: str, exc: BaseException) -> bool:
        """True when `exc` means the database cannot be reached (then it is logged here, once)."""
        unreachable = database_unreachable(exc)
        if unreachable and self.down_since is None:
            self.down_since = time.monotonic()
            log.error("database unreachable (%s: %s): jobs wait for it, tried again every tick", what, exc)
        return unreachable

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning("database reachable again after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None


async def run_jobs_once(jobs: dict[str, Job], database: DatabaseWatch | None = None) -> dict[str, int]:
    """Run every job once; a job returns how many items it handled. One failing job does not stop the others."""
    database = database or DatabaseWatch()
    done: dict[str, int] = {}
    for name, job in jobs.items():
        try:
            done[name] = await job()
        except Exception as exc:
            if not database.failed(f"job {name}", exc):
                log.exception("worker job %s failed", name)
            done[name] = -1
    if all(count >= 0 for count in done.values()):
        database.ok()
    return done


def build_channels(settings: Settings) -> dict[str, NoticeChannel]:
    """The notice channels these settings configure."""
    channels: dict[str, NoticeChannel] = {}
    if settings.telegram_token is not None:
        from gridtalk.lean_imports import defer_aiogram_types

        defer_aiogram_types()  # before anything imports aiogram: ≈ 100 MB less
        from bot.channel import TelegramChannel

        channels["telegram"] = TelegramChannel.from_settings(settings)
    if settings.smtp_host:
        channels["email"] = EmailChannel.from_settings(settings)
    if settings.sms_webhook_url:
        channels["sms"] = SmsWebhookChannel.from_settings(settings)
    return channels


def make_limiter(settings: Settings) -> Limiter:
    """The Telegram limits: shared by every worker through Redis when GRIDTALK_REDIS_URL is set (the
    scale-out path), else this worker's own."""
    if settings.redis_url:
        # imported here: the redis client costs ≈ 20 MB of every process that imports it, used or not
        from core.notices.shared_limiter import SharedTelegramLimiter

        token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
        return SharedTelegramLimiter.from_url(
            settings.redis_url,
            settings.notice_rate_limit,
            settings.notice_chat_interval,
            namespace=token.partition(":")[0] or "default",  # the bot's id: its limits are per bot
        )
    return TelegramLimiter(settings.notice_rate_limit, settings.notice_chat_interval)


def notice_jobs(
    sessionmaker: async_sessionmaker[AsyncSession], services: CoreServices, dispatcher: Dispatcher
) -> dict[str, Job]:
    """The notice jobs, in the order a tick runs them; each opens (and commits) its own unit of work."""

    async def plan_notices() -> int:
        async with session_scope(sessionmaker) as session:
            return await services.planner.plan_published(session)

    async def start_stages() -> int:
        async with session_scope(sessionmaker) as session:
            return await services.stage_starter.start_due_stages(session)

    async def chase_confirms() -> int:
        async with session_scope(sessionmaker) as session:
            return await services.confirmations.chase_unconfirmed(session)

    async def chase_escalations() -> int:
        async with session_scope(sessionmaker) as session:
            return await services.escalations.chase_overdue(session)

    async def bill_reminders() -> int:
        async with session_scope(sessionmaker) as session:
            return await services.bill_reminders.run(session)

    return {
        "plan_notices": plan_notices,
        "start_stages": start_stages,
        "chase_confirms": chase_confirms,
        "chase_escalations": chase_escalations,
        "offer_surveys": offer_surveys_job(sessionmaker, services),
        "bill_reminders": bill_reminders,
        "send_notices": dispatcher.run_once,
    }


SURVEY_EVERY = timedelta(minutes=1)  # the quiet time is counted in minutes: looking every tick adds nothing


def offer_surveys_job(sessionmaker: async_sessionmaker[AsyncSession], services: CoreServices) -> Job:
    """The "quiet" trigger of the satisfaction survey, at most once a minute per worker (the first tick, then
    a minute later); idempotent (one survey per conversation; two workers skip each other's rows)."""
    last: list[datetime] = []

    async def offer_surveys() -> int:
        now = services.clock.now()
        if last and now - last[0] < SURVEY_EVERY:
            return 0
        async with session_scope(sessionmaker) as session:
            sent = await services.surveys.offer_quiet(session)
        last[:] = [now]
        return sent

    return offer_surveys


async def run_worker(
    settings: Settings, *, once: bool = False, clock: Clock | None = None, interval: float = 1.0
) -> dict[str, int] | None:
    """Run the jobs: one tick (`once`: returns what each job handled), or until cancelled."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    channels = build_channels(settings)
    metrics = Metrics()
    services = CoreServices.build(settings, clock)
    dispatcher = Dispatcher(
        sessionmaker,
        clock,
        settings,
        channels,
        services.notice_renderer,
        limiter=make_limiter(settings),
        metrics=metrics,
    )
    if "telegram" not in channels:
        log.warning("GRIDTALK_TELEGRAM_TOKEN is not set: Telegram notices wait in the outbox until it is")
    jobs = notice_jobs(sessionmaker, services, dispatcher)
    if settings.retention_days:
        jobs["purge_transcripts"] = purge_transcripts_job(sessionmaker, settings, clock)
    database = DatabaseWatch()
    beat = heartbeat(sessionmaker, services.heartbeats, database)
    try:
        if once:
            done = await run_jobs_once(jobs)
            await beat()
            log.info("worker tick: %s", done)
            return done
        log.info("worker started with jobs: %s; channels: %s", ", ".join(jobs), ", ".join(channels) or "none")
        send = jobs.pop("send_notices")
        await beat()  # alive from the start: /readyz need not wait for the first tick's jobs
        async with contextlib.AsyncExitStack() as stack:
            if settings.worker_metrics_port:
                await _serve_metrics(stack, metrics, sessionmaker, clock, settings)
            await asyncio.gather(
                _loop({"send_notices": send}, interval, database=database),
                _loop(jobs, interval, after=beat, database=database),
            )
        return None
    finally:
        await dispatcher.aclose()
        await engine.dispose()


async def _serve_metrics(
    stack: contextlib.AsyncExitStack,
    metrics: Metrics,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    settings: Settings,
) -> None:
    """/metrics for this worker while it runs. A port already taken (a second worker on one host) is logged
    and the worker goes on without it: sending notices matters more than being scraped."""
    host, port = settings.api_host, settings.worker_metrics_port
    try:
        await stack.enter_async_context(serve_metrics(metrics, sessionmaker, clock, host, port))
    except OSError as exc:
        log.error("cannot serve /metrics on %s:%d (GRIDTALK_WORKER_METRICS_PORT): %s", host, port, exc)


def purge_transcripts_job(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> Job:
    """GRIDTALK_RETENTION_DAYS applied at most once a day per worker (the first tick, then 24 h later); the
    purge is idempotent, so workers running it side by side change nothing twice. Audited as a system action."""

    from core.privacy import PrivacyService
    from core.staff.audit import AuditService

    privacy = PrivacyService(clock, AuditService(clock))
    last: list[datetime] = []

    async def purge_transcripts() -> int:
        if not settings.retention_days or (last and clock.now() - last[0] < timedelta(days=1)):
            return 0
        async with session_scope(sessionmaker) as session:
            report = await privacy.purge_transcripts(session, settings.retention_days, client="worker")
        last[:] = [clock.now()]
        return report.messages + report.comments

    return purge_transcripts


def heartbeat(
    sessionmaker: async_sessionmaker[AsyncSession], heartbeats: Heartbeats, database: DatabaseWatch | None = None
) -> Callable[[], Awaitable[None]]:
    """Record this worker's heartbeat in its own unit of work; a failure is logged (the next tick tries again)."""
    name = worker_name()
    watch = database or DatabaseWatch()

    async def beat() -> None:
        try:
            async with session_scope(sessionmaker) as session:
                await heartbeats.beat(session, name)
        except Exception as exc:
            if not watch.failed("heartbeat", exc):
                log.exception("worker heartbeat failed")

    return beat


async def _loop(
    jobs: dict[str, Job],
    interval: float,
    after: Callable[[], Awaitable[None]] | None = None,
    database: DatabaseWatch | None = None,
) -> None:
    while True:
        await run_jobs_once(jobs, database)
        if after is not None:
            await after()
        await asyncio.sleep(interval)
