"""Planned outages, as staff manage them: a draft, published (the notice plan is made), changed or
rescheduled (a change notice, the plan made again), cancelled (a cancellation notice to those told),
completed (a restoration notice). Every action is written to the audit log (through AuditService, with
the address the request came from when the caller knows it: `client`).

Built once per process (OutageService(clock, settings, planner, audit)); each call takes the caller's session
and never commits. What is read back (an outage with its plan, its deliveries, its notices previewed) is in
core.outages.views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, InvalidInput, NotFound
from core.models import NoticeStage, Outage, OutageAccount, OutageArea, OutageFeeder
from core.models.enums import OutageKind, OutageStatus
from core.notices.planning import Audiences, NoticePlanner
from core.outages.facts import Scope
from core.outages.repository import OutageRepository
from core.staff.audit import AuditAction, AuditService

MAX_REASON = 2000
MAX_CONTACT = 200


@dataclass(frozen=True, slots=True)
class OutageInput:
    starts_at: datetime
    ends_at: datetime
    reason: str
    contact: str = ""
    kind: str = OutageKind.PLANNED
    areas: tuple[str, ...] = ()
    feeders: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()  # account numbers


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

    async def create(
        self, session: AsyncSession, data: OutageInput, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """A draft planned outage. Refused (InvalidInput, naming the field): not planned, end not after
        start, start in the past, unknown area, feeder or account, nothing affected, or nobody to notify."""
        now = self.clock.now()
        if data.kind != OutageKind.PLANNED:
            raise InvalidInput("only planned outages are announced here", field="kind")
        _check_times(data.starts_at, data.ends_at, now, start_changed=True)
        reason, contact = _check_texts(data.reason, data.contact or self.settings.service_hotline)
        repo = OutageRepository(session)
        scope = await _check_scope(repo, data.areas, data.feeders, data.accounts)
        await self._audience(session, scope)
        outage = repo.add(
            Outage(
                kind=OutageKind.PLANNED,
                status=OutageStatus.DRAFT,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
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
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_CREATE, outage.id, _describe(outage, data.accounts), client
        )
        return outage

    async def publish(
        self, session: AsyncSession, outage_id: int, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """A draft goes out: its audience is resolved once and its notice plan made from it (a delivery
        per person, stage and channel)."""
        now = self.clock.now()
        outage = await get_outage(session, outage_id)
        if outage.status != OutageStatus.DRAFT:
            raise Conflict(f"only a draft can be published; this outage is {outage.status}")
        if outage.starts_at <= now:
            raise InvalidInput("the outage starts in the past", field="starts_at")
        audiences = await self._audience(session, await OutageRepository(session).scope(outage.id))
        outage.status = OutageStatus.PUBLISHED
        outage.published_at = now
        outage.updated_at = now
        stages = await self.planner.publish(session, outage, audiences)
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_PUBLISH, outage.id, {"stages": _stage_list(stages)}, client
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
        """Change an outage. A published one that really changed gets a change notice now to everyone
        already told, and its stages not started yet planned again for the new times."""
        now = self.clock.now()
        repo = OutageRepository(session)
        outage = await get_outage(session, outage_id)
        if outage.status not in (OutageStatus.DRAFT, OutageStatus.PUBLISHED):
            raise Conflict(f"a {outage.status} outage cannot be changed")
        starts_at = changes.starts_at or outage.starts_at
        ends_at = changes.ends_at or outage.ends_at
        start_changed = starts_at != outage.starts_at
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
        if scope != old_scope:
            await self._audience(session, scope)

        changed: dict[str, Any] = {}
        for name, old, new in (
            ("starts_at", outage.starts_at, starts_at),
            ("ends_at", outage.ends_at, ends_at),
            ("reason", outage.reason, reason),
            ("contact", outage.contact, contact),
        ):
            if old != new:
                changed[name] = {"from": _jsonable(old), "to": _jsonable(new)}
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
            _rescope(outage, old_scope, scope)
        if not changed:
            return outage
        outage.updated_at = now
        await session.flush()
        detail: dict[str, Any] = {"changes": changed}
        if outage.status == OutageStatus.PUBLISHED:
            stages = await self.planner.reschedule(session, outage, start_changed=start_changed)
            detail["stages"] = _stage_list(stages)
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
            session, now, actor_id, AuditAction.OUTAGE_CANCEL, outage.id, {"stages": _stage_list(stages)}, client
        )
        return outage

    async def complete(
        self, session: AsyncSession, outage_id: int, *, actor_id: int | None, client: str | None = None
    ) -> Outage:
        """Power is back: a restoration notice to the outage's audience; nothing else is sent any more."""
        now = self.clock.now()
        outage = await get_outage(session, outage_id)
        if outage.status != OutageStatus.PUBLISHED:
            raise Conflict(f"only a published outage can be completed; this one is {outage.status}")
        if now < outage.starts_at:
            raise Conflict("the outage has not started yet: cancel it, or change its times")
        outage.status = OutageStatus.COMPLETED
        outage.completed_at = now
        outage.updated_at = now
        stages = await self.planner.restore(session, outage)
        self._audit(
            session, now, actor_id, AuditAction.OUTAGE_COMPLETE, outage.id, {"stages": _stage_list(stages)}, client
        )
        return outage

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
            field_name = "areas" if scope.area_codes else "feeders" if scope.feeder_codes else "accounts"
            raise InvalidInput(
                "empty audience: no key-account contact and no subscribed customer to notify in this scope",
                field=field_name,
            )
        return audiences


# ------------------------------------------------------------------------------------------ checks


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


def _rescope(outage: Outage, old: Scope, new: Scope) -> None:
    """Keep the scope rows that stay (same primary keys), drop the others, add the new ones."""
    outage.areas = [a for a in outage.areas if a.area_code in new.area_codes] + [
        OutageArea(area_code=code) for code in new.area_codes if code not in old.area_codes
    ]
    outage.feeders = [f for f in outage.feeders if f.feeder_code in new.feeder_codes] + [
        OutageFeeder(feeder_code=code) for code in new.feeder_codes if code not in old.feeder_codes
    ]
    outage.accounts = [a for a in outage.accounts if a.account_id in new.account_ids] + [
        OutageAccount(account_id=ident) for ident in new.account_ids if ident not in old.account_ids
    ]


def _describe(outage: Outage, accounts: tuple[str, ...]) -> dict[str, Any]:
    return {
        "starts_at": _jsonable(outage.starts_at),
        "ends_at": _jsonable(outage.ends_at),
        "areas": [a.area_code for a in outage.areas],
        "feeders": [f.feeder_code for f in outage.feeders],
        "accounts": list(accounts),
    }


def _stage_list(stages: list[NoticeStage]) -> list[dict[str, Any]]:
    return [
        {"stage": s.stage, "audience": s.audience, "due_at": _jsonable(s.due_at), "recipients": s.recipients}
        for s in stages
    ]


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
