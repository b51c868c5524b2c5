"""Turning the planner's stages into the outbox: stage rows, and a draft per person and route.

Publishing resolves each audience group once and plans every stage from it. A stage's audience is
resolved again when it starts sending (core.notices.starting): whoever subscribed since is added, whoever
unsubscribed or blocked the bot is dropped (their row is cancelled). Rows of a stage that has not started
have no next_attempt_at, so the dispatcher cannot claim them early.

A fault outage's notices (`plan_fault`) are sent at once: "we know" when it is published (and to whoever a
wider scope brings in), an update when its estimate moves (`fault_update`), "restored" when power is back
for all or for some feeders (`restore`). They have no deadline: restoring it cancels whatever of them is
still waiting, so nothing "we know" goes out after power is back.

Built once per process (NoticePlanner(clock, settings)); every call takes the caller's session and never
commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.models import NoticeStage, Outage
from core.models.enums import Audience, OutageKind, Segment, StageStatus, Tier
from core.notices.audiences import AudienceRepository, ContactRow, IdentityRow
from core.notices.outbox import (
    ContactKey,
    ContactPoint,
    Recipient,
    Subject,
    available_channels,
    ids_of,
    routes,
)
from core.notices.ratelimit import sustained_rate
from core.notices.repository import OutboxRepository, StageRepository
from core.notices.stage_rows import sync_stage
from core.outages.facts import Scope
from core.outages.planner import (
    AUDIENCES,
    CANCEL,
    CHANGE,
    FINAL,
    INITIAL,
    REGULAR,
    RESTORED,
    PlannedStage,
    PlannerRules,
    Recipients,
    fanout_starts,
    plan_fault,
    plan_publication,
    plan_reschedule,
    recipients_of,
)
from core.outages.repository import OutageRepository

STAGE_KEY = tuple[str, str]  # (stage, audience)


@dataclass(frozen=True, slots=True)
class Audiences:
    """The people of an outage's scope, per audience group, resolved once for a whole plan."""

    groups: dict[str, list[Recipient]]

    def count(self) -> int:
        return sum(len(people) for people in self.groups.values())


class NoticePlanner:
    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings
        self.rules = PlannerRules.from_settings(settings)
        self.channels = available_channels(settings)

    # ---------------------------------------------------------------------------------- audiences

    def key_contact(self, contact: ContactRow) -> Recipient:
        point = ContactPoint(contact.telegram_chat_id, contact.email, contact.phone, contact.telegram_blocked)
        return Recipient(
            key=ContactKey.contact(contact.id),
            tier=Tier.KEY_ACCOUNT,
            segment=Segment.KEY_ACCOUNT,
            language=contact.language,
            routes=routes(point, self.channels, email_always=self.settings.notice_email_key_accounts),
            account_id=contact.account_id,
            key_contact_id=contact.id,
            priority=100 - min(max(contact.priority, 0), 99),  # priority 1 (most critical) first
        )

    def subscriber(self, identity: IdentityRow) -> Recipient:
        key = identity.segment == Segment.KEY_ACCOUNT
        return Recipient(
            key=ContactKey.identity(identity.id),
            tier=Tier.KEY_ACCOUNT if key else Tier.EVERYONE,
            segment=identity.segment,
            language=identity.language,
            routes=routes(ContactPoint(identity.telegram_chat_id, identity.email), self.channels, email_always=False),
            account_id=identity.account_id,
            identity_id=identity.id,
        )

    async def has_audience(self, session: AsyncSession, scope: Scope) -> bool:
        """Whether `audiences(session, scope)` would hold anyone, without resolving them all: the scope's key
        contacts (few) are looked at one by one, the subscribers (up to a whole city) only for one row."""
        repo = AudienceRepository(session)
        contacts = await repo.key_contacts(scope)
        if any(self.key_contact(c).routes for c in contacts):
            return True
        # a subscriber who is also one of these contacts (the same chat) is told as the contact, or not at all
        return await repo.any_subscriber(scope, [c.telegram_chat_id for c in contacts if c.telegram_chat_id])

    async def audiences(
        self, session: AsyncSession, scope: Scope, who: Recipients = "all", told: set[str] | None = None
    ) -> Audiences:
        """Both audience groups of a scope: everyone in it, or only those told (change, cancel: told people
        are reached even when the change took them out of scope), or only those not told yet."""
        repo = AudienceRepository(session)
        told = told or set()
        if who == "told":
            scope = Scope()
        contact_ids = ids_of(told, "contact") if who == "told" else []
        identity_ids = ids_of(told, "identity") if who == "told" else []
        contacts = await repo.key_contacts(scope, contact_ids)
        key_people = [self.key_contact(c) for c in contacts]
        contact_chats = {c.telegram_chat_id for c in contacts if c.telegram_chat_id is not None}
        residents: list[Recipient] = []
        for identity in await repo.subscribed_identities(scope, identity_ids):
            if identity.telegram_chat_id in contact_chats:
                continue  # a key-account contact who also bound the account: told once, as the contact
            person = self.subscriber(identity)
            (key_people if person.tier == Tier.KEY_ACCOUNT else residents).append(person)
        groups: dict[str, list[Recipient]] = {Audience.KEY_ACCOUNT: key_people, Audience.RESIDENTIAL: residents}
        for name, people in groups.items():
            if who == "told":
                people = [p for p in people if str(p.key) in told]
            elif who == "untold":
                people = [p for p in people if str(p.key) not in told]
            groups[name] = [p for p in people if p.routes]
        return Audiences(groups)

    async def _audiences_for(
        self, session: AsyncSession, outage_id: int, plan: Iterable[PlannedStage], scope: Scope
    ) -> dict[STAGE_KEY, list[Recipient]]:
        """Each planned stage's people, resolving each kind of audience (all, told, untold) once."""
        plan = list(plan)
        kinds = {recipients_of(p.stage) for p in plan}
        told = await AudienceRepository(session).told(outage_id) if kinds - {"all"} else set()
        resolved = {kind: await self.audiences(session, scope, kind, told) for kind in kinds}
        return {(p.stage, p.audience): resolved[recipients_of(p.stage)].groups[p.audience] for p in plan}

    # ------------------------------------------------------------------------------------- plans

    async def publish(self, session: AsyncSession, outage: Outage, audiences: Audiences) -> list[NoticeStage]:
        """The notice plan of a just-published outage, for the audiences already resolved for it."""
        plan = self._publication(outage, self.clock.now())
        people = {(p.stage, p.audience): audiences.groups[p.audience] for p in plan}
        return await self._create(session, outage, plan, revision=0, people=people)

    def _publication(self, outage: Outage, now: datetime) -> list[PlannedStage]:
        if outage.kind == OutageKind.UNPLANNED:
            return plan_fault(INITIAL, now)
        return plan_publication(outage.starts_at, now, self.rules)

    async def projection(self, session: AsyncSession, outage: Outage) -> dict[STAGE_KEY, tuple[datetime, datetime]]:
        """The plan a draft would get if published now: for each (stage, audience), when it is due and when it
        would start sending (earlier when its audience cannot be reached by then at the configured rate)."""
        now = self.clock.now()
        plan = self._publication(outage, now)
        scope = await OutageRepository(session).scope(outage.id)
        starts = self._starts(plan, await self._audiences_for(session, outage.id, plan, scope), now)
        return {(p.stage, p.audience): (p.due_at, starts[(p.stage, p.audience)]) for p in plan}

    async def reschedule(self, session: AsyncSession, outage: Outage, *, start_changed: bool) -> list[NoticeStage]:
        """After a change to a published outage: a change notice now to those already told, the stages not
        started yet planned again (or dropped), and a new final confirmation when the start moved after
        the old one went out."""
        now = self.clock.now()
        outbox = OutboxRepository(session)
        stages = await StageRepository(session).of_outage(outage.id)
        told = await AudienceRepository(session).told(outage.id)
        planned = [s for s in stages if s.status == StageStatus.PLANNED]
        pending = {s.stage for s in planned if s.stage in REGULAR}
        plan = plan_reschedule(outage.starts_at, now, self.rules, pending=pending, told=bool(told))
        wanted = {(p.stage, p.audience): p for p in plan}
        revision = max((s.revision for s in stages), default=0) + 1

        keep: dict[STAGE_KEY, NoticeStage] = {}
        for stage in planned:
            if (stage.stage, stage.audience) in wanted and stage.stage in (*REGULAR, FINAL):
                keep[(stage.stage, stage.audience)] = stage
            else:
                stage.status = StageStatus.CANCELLED
                await outbox.cancel_pending(outage.id, "re-planned", stage=stage)
        started_final = {s.audience for s in stages if s.stage == FINAL and s.status == StageStatus.RESOLVED}
        new = [
            p
            for p in plan
            if (p.stage, p.audience) not in keep
            and not (p.stage == FINAL and p.audience in started_final and not start_changed)
        ]  # (a final confirmation that went out for this very start time is not sent again)
        if start_changed:  # a final confirmation still being sent for the old start stops
            for stage in stages:
                if stage.stage == FINAL and stage.status == StageStatus.RESOLVED:
                    await outbox.cancel_pending(outage.id, "rescheduled", stage=stage)

        scope = await OutageRepository(session).scope(outage.id)
        people = await self._audiences_for(session, outage.id, plan, scope)
        starts = self._starts(plan, people, now)
        for key, stage in keep.items():
            stage.due_at, stage.send_from = wanted[key].due_at, starts[key]
            await sync_stage(session, outage, stage, people[key], now, self.deadline(outage, stage.stage))
        created = await self._create(session, outage, new, revision=revision, people=people, starts=starts)
        return [*keep.values(), *created]

    async def fault_update(
        self, session: AsyncSession, outage: Outage, *, estimate_moved: bool, scope_changed: bool
    ) -> list[NoticeStage]:
        """After a change to a published fault outage: an update to those already told when its estimate
        moved (an update of an earlier move still waiting is dropped: only the latest counts), and "we know"
        to whoever a changed scope brings in."""
        now = self.clock.now()
        stages = await StageRepository(session).of_outage(outage.id)
        revision = max((s.revision for s in stages), default=0) + 1
        plan: list[PlannedStage] = []
        if estimate_moved:
            for stage in stages:
                if stage.stage == CHANGE:
                    await OutboxRepository(session).cancel_pending(outage.id, "a newer estimate", stage=stage)
            plan += plan_fault(CHANGE, now)
        if scope_changed:
            plan += plan_fault(INITIAL, now)
        return await self._create(session, outage, plan, revision=revision)

    async def cancel(self, session: AsyncSession, outage: Outage) -> list[NoticeStage]:
        """A cancelled outage: nothing more is sent but a cancellation notice to those already told."""
        return await self._close(session, outage, CANCEL, "outage cancelled")

    async def restore(self, session: AsyncSession, outage: Outage) -> list[NoticeStage]:
        """A completed outage: nothing more is sent but the restoration notice, to its audience."""
        return await self._close(session, outage, RESTORED, "outage completed")

    async def restore_part(self, session: AsyncSession, outage: Outage, restored: Scope) -> list[NoticeStage]:
        """Power is back on some feeders of a fault outage that goes on elsewhere: their people get the
        restoration notice, and nothing else of this outage still waiting for them."""
        now = self.clock.now()
        plan = plan_fault(RESTORED, now)
        people = (await self.audiences(session, restored)).groups
        keys = {str(person.key) for group in people.values() for person in group}
        await OutboxRepository(session).cancel_pending(outage.id, "power restored", sending=True, contact_keys=keys)
        stages = await StageRepository(session).of_outage(outage.id)
        revision = max((s.revision for s in stages), default=0) + 1
        by_stage = {(p.stage, p.audience): people[p.audience] for p in plan}
        return await self._create(session, outage, plan, revision=revision, people=by_stage)

    async def _close(self, session: AsyncSession, outage: Outage, final_stage: str, reason: str) -> list[NoticeStage]:
        now = self.clock.now()
        stages = await StageRepository(session).of_outage(outage.id)
        for stage in stages:
            if stage.status == StageStatus.PLANNED:
                stage.status = StageStatus.CANCELLED
        await OutboxRepository(session).cancel_pending(outage.id, reason, sending=True)
        plan = [PlannedStage(final_stage, audience, now) for audience in AUDIENCES]
        revision = max((s.revision for s in stages), default=0) + 1
        return await self._create(session, outage, plan, revision=revision)

    async def _create(
        self,
        session: AsyncSession,
        outage: Outage,
        plan: Iterable[PlannedStage],
        *,
        revision: int,
        people: dict[STAGE_KEY, list[Recipient]] | None = None,
        starts: dict[STAGE_KEY, datetime] | None = None,
    ) -> list[NoticeStage]:
        now = self.clock.now()
        plan = list(plan)
        if people is None:
            scope = await OutageRepository(session).scope(outage.id)
            people = await self._audiences_for(session, outage.id, plan, scope)
        if starts is None:
            starts = self._starts(plan, people, now)
        stages = StageRepository(session)
        created: list[tuple[NoticeStage, list[Recipient]]] = []
        for p in plan:
            recipients = people[(p.stage, p.audience)]
            if p.stage in (CHANGE, CANCEL) and not recipients:
                continue  # nobody was told in this group: nothing to change or cancel
            stage = stages.add(
                NoticeStage(
                    outage_id=outage.id,
                    stage=p.stage,
                    audience=p.audience,
                    revision=revision,
                    due_at=p.due_at,
                    send_from=starts[(p.stage, p.audience)],
                    status=StageStatus.PLANNED,
                    recipients=len(recipients),
                    created_at=now,
                )
            )
            created.append((stage, recipients))
        await session.flush()
        await self._fill(session, outage, created, now)
        return [stage for stage, _ in created]

    async def _fill(
        self, session: AsyncSession, outage: Outage, created: list[tuple[NoticeStage, list[Recipient]]], now: datetime
    ) -> None:
        """The rows of stages just created (a new round: none of them has rows yet). The stages of one group of
        people share its rows (one per person and route, spelled out by DeliveryDraft.row once), stored for
        every stage at once with the stage's name, round, due time, deadline and release (set-based, as
        OutboxRepository.store_rounds does it); a stage whose start has come is released at once."""
        subject = Subject.outage(outage.id)
        groups: dict[int, tuple[list[Recipient], list[NoticeStage]]] = {}
        for stage, recipients in created:
            groups.setdefault(id(recipients), (recipients, []))[1].append(stage)
            if stage.send_from <= now:
                stage.status = StageStatus.RESOLVED
                stage.resolved_at = now
        outbox = OutboxRepository(session)
        for recipients, group in groups.values():
            first = group[0]
            rows = [
                draft.row(now)
                for person in recipients
                for draft in person.drafts(
                    subject, first.stage, due_at=first.due_at, release_at=None, revision=first.revision
                )
            ]
            rounds = [
                {
                    "stage": stage.stage,
                    "revision": stage.revision,
                    "due_at": stage.due_at,
                    "deadline_at": self.deadline(outage, stage.stage),
                    "next_attempt_at": stage.send_from if stage.status == StageStatus.RESOLVED else None,
                }
                for stage in group
            ]
            await outbox.store_rounds(rows, rounds, fresh=True)

    def _starts(
        self, plan: list[PlannedStage], people: dict[STAGE_KEY, list[Recipient]], now: datetime
    ) -> dict[STAGE_KEY, datetime]:
        counts = {key: sum(len(r.routes) for r in recipients) for key, recipients in people.items()}
        starts = fanout_starts(
            plan,
            counts,
            sustained_rate(self.settings.notice_rate_limit),  # what the dispatcher's limiter keeps up
            timedelta(minutes=self.settings.notice_fanout_margin_minutes),
            self.rules,
        )
        return {key: max(start, now) for key, start in starts.items()}  # too late to start early: start now

    async def plan_published(self, session: AsyncSession) -> int:
        """Worker job: planned outages published without a notice plan (loaded as data, like the demo's)
        and not started yet get one."""
        now = self.clock.now()
        planned = 0
        for outage in await StageRepository(session).published_without_plan():
            if outage.starts_at <= now:
                continue
            scope = await OutageRepository(session).scope(outage.id)
            await self.publish(session, outage, await self.audiences(session, scope))
            planned += 1
        return planned

    def deadline(self, outage: Outage, stage: str) -> datetime | None:
        """Advance notices and the final confirmation are worthless once the outage has started. A fault
        outage's have none: its restoration cancels them (`restore`, `restore_part`)."""
        if outage.kind == OutageKind.UNPLANNED:
            return None
        return None if stage in (CANCEL, RESTORED, CHANGE) else outage.starts_at
