"""Turning the planner's stages into the outbox: stage rows, and a delivery row per person and channel.

Every stage's audience is resolved twice: when it is planned (so the plan shows who would be told, and
how early a big stage must start) and again when it starts sending (`start_due_stages`): whoever
subscribed since is added, whoever unsubscribed or blocked the bot is dropped (their row is cancelled).
Rows of a stage that has not started have no next_attempt_at, so the dispatcher cannot claim them early.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.models import NoticeStage, Outage
from core.notices.repository import KEY_SEGMENT, ContactRow, IdentityRow, NoticeRepository, Scope
from core.outages.planner import (
    AUDIENCES,
    CANCEL,
    CHANGE,
    FINAL,
    KEY_ACCOUNT,
    REGULAR,
    RESIDENTIAL,
    RESTORED,
    PlannedStage,
    PlannerRules,
    fanout_starts,
    plan_publication,
    plan_reschedule,
    recipients_of,
)

log = logging.getLogger("gridtalk.notices")

LEFT_AUDIENCE = "no longer in the audience"

# Ordering of the outbox: staff alerts, then key accounts (most critical first), then everybody else.
STAFF_PRIORITY = 200
KEY_CONTACT_PRIORITY = 100
KEY_IDENTITY_PRIORITY = 50
RESIDENTIAL_PRIORITY = 0


def available_channels(settings: Settings) -> frozenset[str]:
    """The channels this installation can send on: Telegram with a bot token, email with an SMTP host,
    SMS with a gateway webhook."""
    channels = set()
    if settings.telegram_token is not None:
        channels.add("telegram")
    if settings.smtp_host:
        channels.add("email")
    if settings.sms_webhook_url:
        channels.add("sms")
    return frozenset(channels)


@dataclass(frozen=True, slots=True)
class Route:
    channel: str
    address: str
    telegram_chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_key: str
    audience: str  # key_account | residential
    segment: str
    account_id: int | None
    identity_id: int | None
    key_contact_id: int | None
    language: str
    priority: int
    routes: tuple[Route, ...]


def contact_routes(contact: ContactRow, channels: Collection[str], *, email_always: bool) -> tuple[Route, ...]:
    """How a key-account contact is reached: Telegram when they have a chat and have not blocked the bot;
    email too (always, or only when Telegram cannot reach them); SMS too when a gateway is configured.
    Routes on channels this installation lacks are dropped, unless none is left: then the first one is
    kept, and waits in the outbox (visible in the API) until the channel is configured."""
    telegram = contact.telegram_chat_id is not None and not contact.telegram_blocked
    wanted: list[Route] = []
    if telegram:
        wanted.append(Route("telegram", str(contact.telegram_chat_id), contact.telegram_chat_id))
    if contact.email and (email_always or not (telegram and "telegram" in channels)):
        wanted.append(Route("email", contact.email))
    if contact.phone and "sms" in channels:
        wanted.append(Route("sms", contact.phone))
    usable = tuple(r for r in wanted if r.channel in channels)
    return usable or tuple(wanted[:1])


def key_contact_recipient(contact: ContactRow, channels: Collection[str], *, email_always: bool) -> Recipient:
    return Recipient(
        contact_key=f"contact:{contact.id}",
        audience=KEY_ACCOUNT,
        segment=KEY_SEGMENT,
        account_id=contact.account_id,
        identity_id=None,
        key_contact_id=contact.id,
        language=contact.language,
        priority=KEY_CONTACT_PRIORITY - min(max(contact.priority, 0), 99),
        routes=contact_routes(contact, channels, email_always=email_always),
    )


def identity_recipient(identity: IdentityRow) -> Recipient:
    key = identity.segment == KEY_SEGMENT
    return Recipient(
        contact_key=f"identity:{identity.id}",
        audience=KEY_ACCOUNT if key else RESIDENTIAL,
        segment=identity.segment,
        account_id=identity.account_id,
        identity_id=identity.id,
        key_contact_id=None,
        language=identity.language,
        priority=KEY_IDENTITY_PRIORITY if key else RESIDENTIAL_PRIORITY,
        routes=(Route("telegram", str(identity.telegram_chat_id), identity.telegram_chat_id),),
    )


class NoticePlanner:
    """Plans an outage's notices into the outbox, within the caller's unit of work (never commits)."""

    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.repo = NoticeRepository(session)
        self.clock = clock
        self.settings = settings
        self.rules = PlannerRules.from_settings(settings)
        self.channels = available_channels(settings)

    # ---------------------------------------------------------------------------------- audiences

    async def audience(self, outage_id: int, scope: Scope, stage: str, audience: str) -> list[Recipient]:
        """Who of `audience` gets `stage` now: everyone in scope, or only those told (change, cancel: told
        people are reached even when the change took them out of scope), or only those not told yet."""
        kind = recipients_of(stage)
        told = await self.repo.told(outage_id) if kind != "all" else set()
        contact_ids = [int(k.split(":")[1]) for k in told if k.startswith("contact:")]
        identity_ids = [int(k.split(":")[1]) for k in told if k.startswith("identity:")]
        if kind == "told":
            scope = Scope()
        found: list[Recipient] = []
        contact_chats: set[int] = set()
        if audience == KEY_ACCOUNT:
            for contact in await self.repo.key_contacts(scope, contact_ids if kind == "told" else ()):
                found.append(
                    key_contact_recipient(contact, self.channels, email_always=self.settings.notice_email_key_accounts)
                )
        else:
            contact_chats = {
                c.telegram_chat_id
                for c in await self.repo.key_contacts(scope, contact_ids if kind == "told" else ())
                if c.telegram_chat_id is not None
            }
        for identity in await self.repo.subscribed_identities(scope, identity_ids if kind == "told" else ()):
            recipient = identity_recipient(identity)
            if recipient.audience != audience:
                continue
            if audience == RESIDENTIAL and identity.telegram_chat_id in contact_chats:
                continue  # a key-account contact who also bound the account: told once, as the contact
            found.append(recipient)
        if audience == KEY_ACCOUNT:  # a contact's chat may also be a bound identity: keep the contact
            chats = {r.routes[0].telegram_chat_id for r in found if r.key_contact_id is not None and r.routes}
            found = [r for r in found if r.identity_id is None or r.routes[0].telegram_chat_id not in chats]
        if kind == "told":
            found = [r for r in found if r.contact_key in told]
        elif kind == "untold":
            found = [r for r in found if r.contact_key not in told]
        return [r for r in found if r.routes]

    # ------------------------------------------------------------------------------------- plans

    async def publish(self, outage: Outage) -> list[NoticeStage]:
        """The notice plan of a just-published outage: stage rows and a pending delivery per person."""
        now = self.clock.now()
        plan = plan_publication(outage.starts_at, now, self.rules)
        return await self._create(outage, plan, revision=0)

    async def reschedule(self, outage: Outage, *, start_changed: bool) -> list[NoticeStage]:
        """After a change to a published outage: a change notice now to those already told, the stages not
        started yet planned again (or dropped), and a new final confirmation when the start moved after
        the old one went out."""
        now = self.clock.now()
        stages = await self.repo.stages(outage.id)
        told = await self.repo.told(outage.id)
        planned = [s for s in stages if s.status == "planned"]
        pending = {s.stage for s in planned if s.stage in REGULAR}
        plan = plan_reschedule(outage.starts_at, now, self.rules, pending=pending, told=bool(told))
        wanted = {(p.stage, p.audience): p for p in plan}
        scope = await self.repo.outage_scope(outage.id)
        revision = max((s.revision for s in stages), default=0) + 1

        keep: dict[tuple[str, str], NoticeStage] = {}
        for stage in planned:
            if (stage.stage, stage.audience) in wanted and stage.stage in (*REGULAR, FINAL):
                keep[(stage.stage, stage.audience)] = stage
            else:
                stage.status = "cancelled"
                await self.repo.cancel_pending(outage.id, "re-planned", stage=stage)
        started_final = {s.audience for s in stages if s.stage == FINAL and s.status == "resolved"}
        new: list[PlannedStage] = []
        for p in plan:
            if (p.stage, p.audience) in keep:
                continue
            if p.stage == FINAL and p.audience in started_final and not start_changed:
                continue  # the final confirmation went out for this very start time
            new.append(p)
        if start_changed:  # a final confirmation still being sent for the old start stops
            for stage in stages:
                if stage.stage == FINAL and stage.status == "resolved":
                    await self.repo.cancel_pending(outage.id, "rescheduled", stage=stage)

        audiences = {(p.stage, p.audience): await self.audience(outage.id, scope, p.stage, p.audience) for p in plan}
        starts = self._starts(plan, audiences, now)
        for (name, audience), stage in keep.items():
            p = wanted[(name, audience)]
            stage.due_at, stage.send_from = p.due_at, starts[(name, audience)]
            await self._sync(stage, audiences[(name, audience)], now)
        created = await self._create(outage, new, revision=revision, audiences=audiences, starts=starts)
        return [*keep.values(), *created]

    async def cancel(self, outage: Outage) -> list[NoticeStage]:
        """A cancelled outage: nothing more is sent but a cancellation notice to those already told."""
        return await self._close(outage, CANCEL, "outage cancelled")

    async def restore(self, outage: Outage) -> list[NoticeStage]:
        """A completed outage: nothing more is sent but the restoration notice, to its audience."""
        return await self._close(outage, RESTORED, "outage completed")

    async def _close(self, outage: Outage, final_stage: str, reason: str) -> list[NoticeStage]:
        now = self.clock.now()
        stages = await self.repo.stages(outage.id)
        for stage in stages:
            if stage.status == "planned":
                stage.status = "cancelled"
        await self.repo.cancel_pending(outage.id, reason)
        plan = [PlannedStage(final_stage, audience, now) for audience in AUDIENCES]
        revision = max((s.revision for s in stages), default=0) + 1
        return await self._create(outage, plan, revision=revision)

    async def _create(
        self,
        outage: Outage,
        plan: Iterable[PlannedStage],
        *,
        revision: int,
        audiences: dict[tuple[str, str], list[Recipient]] | None = None,
        starts: dict[tuple[str, str], datetime] | None = None,
    ) -> list[NoticeStage]:
        now = self.clock.now()
        plan = list(plan)
        if audiences is None:
            scope = await self.repo.outage_scope(outage.id)
            audiences = {
                (p.stage, p.audience): await self.audience(outage.id, scope, p.stage, p.audience) for p in plan
            }
        if starts is None:
            starts = self._starts(plan, audiences, now)
        created = []
        for p in plan:
            recipients = audiences[(p.stage, p.audience)]
            if p.stage in (CHANGE, CANCEL) and not recipients:
                continue  # nobody was told in this group: nothing to change or cancel
            stage = self.repo.add_stage(
                NoticeStage(
                    outage_id=outage.id,
                    stage=p.stage,
                    audience=p.audience,
                    revision=revision,
                    due_at=p.due_at,
                    send_from=starts[(p.stage, p.audience)],
                    status="planned",
                    recipients=len(recipients),
                    created_at=now,
                )
            )
            await self.repo.session.flush()
            await self._sync(stage, recipients, now)
            created.append(stage)
        return created

    def _starts(
        self, plan: list[PlannedStage], audiences: dict[tuple[str, str], list[Recipient]], now: datetime
    ) -> dict[tuple[str, str], datetime]:
        counts = {key: sum(len(r.routes) for r in recipients) for key, recipients in audiences.items()}
        starts = fanout_starts(
            plan,
            counts,
            self.settings.notice_rate_limit,
            timedelta(minutes=self.settings.notice_fanout_margin_minutes),
            self.rules,
        )
        return {key: max(start, now) for key, start in starts.items()}  # too late to start early: start now

    # ------------------------------------------------------------------------------ start a stage

    async def start_due_stages(self) -> int:
        """Worker job: stages whose time to start sending has come get their audience resolved again and
        their rows released to the dispatcher. Returns how many stages started."""
        now = self.clock.now()
        started = 0
        for stage in await self.repo.stages_to_start(now):
            outage = await self.repo.outage(stage.outage_id)
            if outage is None or (outage.status != "published" and stage.stage not in (CANCEL, RESTORED)):
                stage.status = "cancelled"
                continue
            scope = await self.repo.outage_scope(outage.id)
            await self._sync(stage, await self.audience(outage.id, scope, stage.stage, stage.audience), now)
            started += 1
        return started

    async def plan_published(self) -> int:
        """Worker job: planned outages published without a notice plan (loaded as data, like the demo's)
        and not started yet get one."""
        now = self.clock.now()
        planned = 0
        for outage in await self.repo.published_without_plan():
            if outage.starts_at <= now:
                continue
            await self.publish(outage)
            planned += 1
        return planned

    async def _sync(self, stage: NoticeStage, recipients: list[Recipient], now: datetime) -> None:
        """Make the stage's rows match `recipients`; when its start has come, release them for sending."""
        release = stage.send_from <= now
        if release:
            stage.status = "resolved"
            stage.resolved_at = now
        claimable_at = stage.send_from if release else None
        existing = {(d.contact_key, d.channel): d for d in await self.repo.stage_rows(stage)}
        wanted: set[tuple[str, str]] = set()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for r in recipients:
            for route in r.routes:
                key = (r.contact_key, route.channel)
                wanted.add(key)
                row = existing.get(key)
                if row is None:
                    inserts.append(self._row(stage, r, route, claimable_at, now))
                elif row.status == "pending" or (row.status == "cancelled" and row.last_error == LEFT_AUDIENCE):
                    values = {
                        "status": "pending",
                        "address": route.address,
                        "telegram_chat_id": route.telegram_chat_id,
                        "language": r.language,
                        "priority": r.priority,
                        "due_at": stage.due_at,
                        "last_error": None if row.status == "cancelled" else row.last_error,
                    }
                    if any(getattr(row, name) != value for name, value in values.items()):
                        updates.append({"id": row.id, **values})
        gone = [
            {"id": row.id, "status": "cancelled", "last_error": LEFT_AUDIENCE, "next_attempt_at": None}
            for key, row in existing.items()
            if key not in wanted and row.status == "pending"
        ]
        await self.repo.insert_deliveries(inserts)
        await self.repo.update_rows(updates)
        await self.repo.update_rows(gone)
        if claimable_at is not None:
            await self.repo.release_stage(stage, claimable_at)
        stage.recipients = len(recipients)
        if gone:
            log.info("stage %s of outage %s: %d no longer in the audience", stage.stage, stage.outage_id, len(gone))

    @staticmethod
    def _row(
        stage: NoticeStage, r: Recipient, route: Route, claimable_at: datetime | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "outage_id": stage.outage_id,
            "contact_key": r.contact_key,
            "identity_id": r.identity_id,
            "key_contact_id": r.key_contact_id,
            "account_id": r.account_id,
            "segment": r.segment,
            "stage": stage.stage,
            "revision": stage.revision,
            "channel": route.channel,
            "address": route.address,
            "telegram_chat_id": route.telegram_chat_id,
            "language": r.language,
            "priority": r.priority,
            "due_at": stage.due_at,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": claimable_at,
            "created_at": now,
        }
