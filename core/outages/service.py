"""Outages, as staff manage them. Planned: a draft, published (the notice plan is made), changed or
rescheduled (a change notice, the plan made again), cancelled (a cancellation notice to those told),
completed (a restoration notice). Faults (unplanned): a draft naming when the power went off and when it is
expected back, published ("we know" to everyone in the scope at once), the estimate moved (each estimate kept,
with who and when; an update to those told when it moves by more than notice_estimate_change_minutes),
restored on all or some feeders (a restoration notice with "still no power at my place"), fault tickets
linked to it. What only faults have (their times, estimates, partial restore, tickets) is in
core.outages.faults. Every action is written to the audit log (through AuditService, with
the address the request came from when the caller knows it: `client`).

Built once per process (OutageService(clock, settings, planner, audit)); each call takes the caller's session
and never commits. What is read back (an outage with its plan, its deliveries, its notices previewed) is in
core.outages.views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Outage, OutageAccount, OutageArea, OutageEstimate, OutageFeeder
from core.models.enums import OutageKind, OutageStatus
from core.notices.planning import Audiences, NoticePlanner
from core.outages.bookkeeping import describe, jsonable, rescope, stage_list
from core.outages.facts import Scope
from core.outages.faults import FaultOutages, check_fault_times, record_estimate
from core.outages.repository import OutageRepository
from core.staff.audit import AuditAction, AuditService

MAX_REASON = 2000
MAX_CONTACT = 200


@dataclass(frozen=True, slots=True)
class OutageInput:
    starts_at: datetime | None  # a fault's defaults to now
    ends_at: datetime | None  # planned only
    reason: str
    contact: str = ""
    kind: str = OutageKind.PLANNED
    areas: tuple[str, ...] = ()
    feeders: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()  # account numbers
    estimated_restoration_at: datetime | None = None  # unplanned only


@dataclass(frozen=True, slots=True)
class OutageChanges:
    """A PATCH: None leaves a field as it is."""

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str | None = None
    contact: str | None = None
    areas: tuple[str, ...] | None = None
    feeders: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None
    estimated_restoration_at: datetime | None = None  # a fault's


async def get_outage(session: AsyncSession, outage_id: int) -> Outage:
    outage = await OutageRepository(session).get_full(outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    return outage


class OutageService:
    def __init__(
        self, clock: Clock, settings: Settings, planner: NoticePlanner, audit: AuditService | None = None
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.planner = planner
        self.audit = audit or AuditService(clock)
        self.faults = FaultOutages(clock, planner, self.audit)

    async def create(
        self, session: AsyncSession, data: OutageInput, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """A draft outage. Refused (InvalidInput, naming the field): unknown area, feeder or account, nothing
        affected; for a planned one: no end, end not after start, start in the past, or nobody to notify; for
        a fault: no estimate, a start ahead of now, an estimate not after the start or already passed."""
        now = self.clock.now()
        fault = data.kind == OutageKind.UNPLANNED
        starts_at = data.starts_at or (now if fault else None)
        if starts_at is None:
            raise InvalidInput("say when the outage starts", field="starts_at")
        if fault:
            ends_at = check_fault_times(starts_at, data.estimated_restoration_at, now)
        elif data.ends_at is None:
            raise InvalidInput("say when the outage ends", field="ends_at")
        elif data.estimated_restoration_at is not None:
            raise InvalidInput("a planned outage has an end, not an estimate", field="estimated_restoration_at")
        else:
            ends_at = data.ends_at
            _check_times(starts_at, ends_at, now, start_changed=True)
        reason, contact = _check_texts(data.reason, data.contact or self.settings.service_hotline)
        repo = OutageRepository(session)
        scope = await _check_scope(repo, data.areas, data.feeders, data.accounts)
        # a fault is recorded even when nobody subscribed: the bot and the public page tell it
        if not fault and not await self.planner.has_audience(session, scope):
            _nobody_to_tell(scope)
        outage = repo.add(
            Outage(
                kind=OutageKind(data.kind),
                status=OutageStatus.DRAFT,
                starts_at=starts_at,
                ends_at=ends_at,
                estimated_restoration_at=ends_at if fault else None,
                reason=reason,
                contact=contact,
                created_by_id=actor_id,
                created_at=now,
                areas=[OutageArea(area_code=code) for code in scope.area_codes],
                feeders=[OutageFeeder(feeder_code=code) for code in scope.feeder_codes],
                accounts=[OutageAccount(account_id=ident) for ident in scope.account_ids],
            )
        )
        await session.flush()
        if fault:
            record_estimate(session, outage, actor_id, now)
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_CREATE, outage.id, describe(outage, data.accounts), client
        )
        return outage

    async def publish(
        self, session: AsyncSession, outage_id: int, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """A draft goes out: its audience is resolved once and its notice plan made from it (a delivery
        per person, stage and channel). A fault also closes the open probable-fault alerts of its feeders."""
        now = self.clock.now()
        outage = await get_outage(session, outage_id)
        if outage.status != OutageStatus.DRAFT:
            raise Conflict(f"only a draft can be published; this outage is {outage.status}")
        scope = await OutageRepository(session).scope(outage.id)
        if outage.kind == OutageKind.UNPLANNED:
            if outage.ends_at <= now:
                raise InvalidInput("the estimate has passed: move it first", field="estimated_restoration_at")
            audiences = await self.planner.audiences(session, scope)
            await OutageRepository(session).close_alerts(scope, outage.id, now)  # the probable fault is this one
        elif outage.starts_at <= now:
            raise InvalidInput("the outage starts in the past", field="starts_at")
        else:
            audiences = await self._audience(session, scope)
        outage.status = OutageStatus.PUBLISHED
        outage.published_at = now
        outage.updated_at = now
        stages = await self.planner.publish(session, outage, audiences)
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_PUBLISH, outage.id, {"stages": stage_list(stages)}, client
        )
        return outage

    async def update(
        self,
        session: AsyncSession,
        outage_id: int,
        changes: OutageChanges,
        *,
        actor_id: int | None,
        client: str | None = None,
    ) -> Outage:
        """Change an outage. A published planned one that really changed gets a change notice now to everyone
        already told, and its stages not started yet planned again for the new times. A published fault
        whose estimate moved by more than notice_estimate_change_minutes gets an update to those told (every
        estimate is kept, a smaller move too), and "we know" goes to whoever a wider scope brings in."""
        now = self.clock.now()
        repo = OutageRepository(session)
        outage = await get_outage(session, outage_id)
        if outage.status not in (OutageStatus.DRAFT, OutageStatus.PUBLISHED):
            raise Conflict(f"a {outage.status} outage cannot be changed")
        fault = outage.kind == OutageKind.UNPLANNED
        starts_at = changes.starts_at or outage.starts_at
        start_changed = starts_at != outage.starts_at
        if fault:
            if changes.ends_at is not None:
                raise InvalidInput("a fault outage has an estimate, not an end", field="ends_at")
            ends_at = changes.estimated_restoration_at or outage.ends_at
            if start_changed or ends_at != outage.ends_at:
                check_fault_times(starts_at, ends_at, now)
        else:
            if changes.estimated_restoration_at is not None:
                raise InvalidInput("a planned outage has an end, not an estimate", field="estimated_restoration_at")
            ends_at = changes.ends_at or outage.ends_at
            _check_times(starts_at, ends_at, now, start_changed=start_changed)
        reason, contact = _check_texts(
            changes.reason if changes.reason is not None else outage.reason,
            changes.contact if changes.contact is not None else outage.contact,
        )
        old_scope = await repo.scope(outage.id)
        numbers = await repo.account_numbers(old_scope.account_ids)
        accounts = changes.accounts
        if accounts is None:
            accounts = tuple(numbers[i] for i in old_scope.account_ids)
        scope = await _check_scope(
            repo,
            changes.areas if changes.areas is not None else old_scope.area_codes,
            changes.feeders if changes.feeders is not None else old_scope.feeder_codes,
            accounts,
        )
        if scope != old_scope and not fault and not await self.planner.has_audience(session, scope):
            _nobody_to_tell(scope)

        old_estimate = outage.ends_at
        changed: dict[str, Any] = {}
        fields = {"starts_at": starts_at, "ends_at": ends_at, "reason": reason, "contact": contact}
        if fault:
            fields["estimated_restoration_at"] = ends_at
        for name, new in fields.items():
            old = getattr(outage, name)
            if old != new:
                changed[name] = {"from": jsonable(old), "to": jsonable(new)}
                setattr(outage, name, new)
        if scope != old_scope:
            changed["scope"] = {
                "from": {"areas": list(old_scope.area_codes), "feeders": list(old_scope.feeder_codes)},
                "to": {
                    "areas": list(scope.area_codes),
                    "feeders": list(scope.feeder_codes),
                    "accounts": list(accounts),
                },
            }
            rescope(outage, old_scope, scope)
        if not changed:
            return outage
        outage.updated_at = now
        await session.flush()
        detail: dict[str, Any] = {"changes": changed}
        if fault and ends_at != old_estimate:
            record_estimate(session, outage, actor_id, now)
        if outage.status == OutageStatus.PUBLISHED and fault:
            moved = abs(ends_at - old_estimate) > timedelta(minutes=self.settings.notice_estimate_change_minutes)
            stages = await self.planner.fault_update(
                session, outage, estimate_moved=moved, scope_changed=scope != old_scope
            )
            detail["stages"] = stage_list(stages)
        elif outage.status == OutageStatus.PUBLISHED:
            stages = await self.planner.reschedule(session, outage, start_changed=start_changed)
            detail["stages"] = stage_list(stages)
        self._audit(session, now, actor_id, AuditAction.OUTAGE_UPDATE, outage.id, detail, client)
        return outage

    async def cancel(
        self, session: AsyncSession, outage_id: int, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """Cancel: no more notices but a cancellation notice, to those already told only."""
        now = self.clock.now()
        outage = await get_outage(session, outage_id)
        if outage.status not in (OutageStatus.DRAFT, OutageStatus.PUBLISHED):
            raise Conflict(f"a {outage.status} outage cannot be cancelled")
        was_published = outage.status == OutageStatus.PUBLISHED
        outage.status = OutageStatus.CANCELLED
        outage.cancelled_at = now
        outage.updated_at = now
        stages = await self.planner.cancel(session, outage) if was_published else []
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_CANCEL, outage.id, {"stages": stage_list(stages)}, client
        )
        return outage

    async def complete(
        self,
        session: AsyncSession,
        outage_id: int,
        *,
        feeders: tuple[str, ...] | None = None,
        actor_id: int | None,
        client: str | None = None,
    ) -> Outage:
        """Power is back: a restoration notice to the outage's audience; nothing else is sent any more.
        `feeders`: back on those only (feeders the outage names); the outage goes on for the rest of its
        scope, and their people get the restoration notice. Naming every feeder of an outage scoped by
        feeders only is the same as restoring it all."""
        now = self.clock.now()
        outage = await get_outage(session, outage_id)
        if outage.status != OutageStatus.PUBLISHED:
            raise Conflict(f"only a published outage can be completed; this one is {outage.status}")
        if now < outage.starts_at:
            raise Conflict("the outage has not started yet: cancel it, or change its times")
        scope = await OutageRepository(session).scope(outage.id)
        if feeders is not None:
            restored = tuple(dict.fromkeys(feeders))
            if not restored:
                raise InvalidInput(
                    "name the feeders that are back, or leave feeders out to restore it all", field="feeders"
                )
            unknown = sorted(set(restored) - set(scope.feeder_codes))
            if unknown:
                raise InvalidInput(f"not a feeder of this outage: {', '.join(unknown)}", field="feeders")
            if set(restored) != set(scope.feeder_codes) or scope.area_codes or scope.account_ids:
                return await self.faults.restore_part(
                    session, outage, scope, restored, actor_id=actor_id, client=client
                )
        outage.status = OutageStatus.COMPLETED
        outage.completed_at = now
        outage.updated_at = now
        if outage.kind == OutageKind.UNPLANNED:
            outage.ends_at = now
        stages = await self.planner.restore(session, outage)
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_COMPLETE, outage.id, {"stages": stage_list(stages)}, client
        )
        return outage

    async def link_tickets(
        self,
        session: AsyncSession,
        outage_id: int,
        ticket_ids: tuple[int, ...],
        *,
        actor_id: int | None,
        client: str | None = None,
    ) -> list[int]:
        """Fault tickets that are part of this outage (a customer's report of it). Refused when a ticket does
        not exist; linking again changes nothing. Returns the ids linked."""
        outage = await get_outage(session, outage_id)
        return await self.faults.link_tickets(session, outage, ticket_ids, actor_id=actor_id, client=client)

    async def estimates(self, session: AsyncSession, outage_id: int) -> list[tuple[OutageEstimate, str | None]]:
        """Every estimate of a fault outage's restoration, oldest first, with who set it (a username)."""
        await get_outage(session, outage_id)
        return await OutageRepository(session).estimates(outage_id)

    def _audit(
        self,
        session: AsyncSession,
        at: datetime,
        actor_id: int | None,
        action: AuditAction,
        outage_id: int,
        detail: dict[str, Any],
        client: str | None,
    ) -> None:
        self.audit.record(session, actor_id, action, "outage", outage_id, detail, client, at=at)

    async def _audience(self, session: AsyncSession, scope: Scope) -> Audiences:
        """Everyone the scope's notices would reach; refused when that is nobody."""
        audiences = await self.planner.audiences(session, scope)
        if audiences.count() == 0:
            _nobody_to_tell(scope)
        return audiences


# ------------------------------------------------------------------------------------------ checks


def _nobody_to_tell(scope: Scope) -> NoReturn:
    """Refused: the scope's notices would reach nobody (create and update ask without resolving them all)."""
    field_name = "areas" if scope.area_codes else "feeders" if scope.feeder_codes else "accounts"
    raise InvalidInput(
        "empty audience: no key-account contact and no subscribed customer to notify in this scope", field=field_name
    )


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime, *, start_changed: bool) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None:
            raise InvalidInput("a time needs its UTC offset (ISO 8601, e.g. 2026-12-10T08:00:00+08:00)", field=name)
    if ends_at <= starts_at:
        raise InvalidInput("the end must be after the start", field="ends_at")
    if start_changed and starts_at <= now:
        raise InvalidInput("the start is in the past", field="starts_at")


def _check_texts(reason: str, contact: str) -> tuple[str, str]:
    reason, contact = reason.strip(), contact.strip()
    if not reason:
        raise InvalidInput("say why the power goes off (the reason is in every notice)", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"at most {MAX_REASON} characters", field="reason")
    if not contact:
        raise InvalidInput("a contact (a phone number) is in every notice", field="contact")
    if len(contact) > MAX_CONTACT:
        raise InvalidInput(f"at most {MAX_CONTACT} characters", field="contact")
    return reason, contact


async def _check_scope(
    repo: OutageRepository, areas: tuple[str, ...], feeders: tuple[str, ...], accounts: tuple[str, ...]
) -> Scope:
    if not (areas or feeders or accounts):
        raise InvalidInput("name the areas, feeders or accounts the outage affects", field="areas")
    unknown_areas = sorted(set(areas) - await repo.existing_areas(areas))
    if unknown_areas:
        raise InvalidInput(f"unknown area {', '.join(unknown_areas)}", field="areas")
    unknown_feeders = sorted(set(feeders) - await repo.existing_feeders(feeders))
    if unknown_feeders:
        raise InvalidInput(f"unknown feeder {', '.join(unknown_feeders)}", field="feeders")
    ids = await repo.account_ids(accounts)
    unknown_accounts = sorted(set(accounts) - set(ids))
    if unknown_accounts:
        raise InvalidInput(f"unknown account {', '.join(unknown_accounts)}", field="accounts")
    return Scope.of(areas, feeders, tuple(ids.values()))
