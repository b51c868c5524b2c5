"""Planned outages, as staff manage them: a draft, published (the notice plan is made), changed or
rescheduled (a change notice, the plan made again), cancelled (a cancellation notice to those told),
completed (a restoration notice). Every action is written to the audit log. Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, InvalidInput, NotFound
from core.models import AuditLog, NoticeStage, Outage, OutageAccount, OutageArea, OutageFeeder
from core.models.customers import LANGUAGES
from core.notices.planning import NoticePlanner
from core.notices.render import NoticeRenderer, load_outage_facts
from core.notices.repository import NoticeRepository, Scope
from core.outages.planner import (
    CANCEL,
    CHANGE,
    FINAL,
    FIRST,
    INITIAL,
    KEY_ACCOUNT,
    RESIDENTIAL,
    RESTORED,
    SECOND,
    PlannerRules,
    plan_publication,
)
from core.outages.repository import OutageRepository
from core.staff.repository import AuditRepository

MAX_REASON = 2000
MAX_CONTACT = 200
REGULAR_ORDER = (INITIAL, FIRST, SECOND, FINAL)


@dataclass(frozen=True, slots=True)
class OutageInput:
    starts_at: datetime
    ends_at: datetime
    reason: str
    contact: str = ""
    kind: str = "planned"
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


@dataclass(frozen=True, slots=True)
class StageView:
    stage: str
    audience: str
    revision: int
    due_at: datetime
    send_from: datetime
    status: str
    recipients: int


@dataclass(frozen=True, slots=True)
class OutageView:
    id: int
    kind: str
    status: str
    areas: list[str]
    feeders: list[str]
    accounts: list[str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    contact: str
    published_at: datetime | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime | None
    stages: list[StageView] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ actions


async def create_outage(
    session: AsyncSession, clock: Clock, settings: Settings, data: OutageInput, *, actor_id: int | None
) -> Outage:
    """A draft planned outage. Refused (InvalidInput, naming the field): not planned, end not after start,
    start in the past, unknown area, feeder or account, nothing affected, or nobody to notify."""
    now = clock.now()
    if data.kind != "planned":
        raise InvalidInput("only planned outages are announced here", field="kind")
    _check_times(data.starts_at, data.ends_at, now, start_changed=True)
    reason, contact = _check_texts(data.reason, data.contact or settings.service_hotline)
    repo = OutageRepository(session)
    account_ids = await _check_scope(repo, data.areas, data.feeders, data.accounts)
    scope = Scope(tuple(sorted(set(data.areas))), tuple(sorted(set(data.feeders))), tuple(sorted(account_ids)))
    await _check_audience(session, clock, settings, scope, data.areas, data.feeders)
    outage = repo.add(
        Outage(
            kind="planned",
            status="draft",
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
    _audit(session, now, actor_id, "outage.create", outage.id, _describe(outage, data.accounts))
    return outage


async def publish_outage(
    session: AsyncSession, clock: Clock, settings: Settings, outage_id: int, *, actor_id: int | None
) -> Outage:
    """A draft goes out: its notice plan is made (a delivery per person, stage and channel)."""
    now = clock.now()
    outage = await _get(session, outage_id)
    if outage.status != "draft":
        raise Conflict(f"only a draft can be published; this outage is {outage.status}")
    if outage.starts_at <= now:
        raise InvalidInput("the outage starts in the past", field="starts_at")
    scope = await NoticeRepository(session).outage_scope(outage.id)
    await _check_audience(session, clock, settings, scope, scope.area_codes, scope.feeder_codes)
    outage.status = "published"
    outage.published_at = now
    outage.updated_at = now
    stages = await NoticePlanner(session, clock, settings).publish(outage)
    _audit(session, now, actor_id, "outage.publish", outage.id, {"stages": _stage_list(stages)})
    return outage


async def update_outage(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    outage_id: int,
    changes: OutageChanges,
    *,
    actor_id: int | None,
) -> Outage:
    """Change an outage. A published one that really changed gets a change notice now to everyone already
    told, and its stages not started yet planned again for the new times."""
    now = clock.now()
    repo = OutageRepository(session)
    outage = await _get(session, outage_id)
    if outage.status not in ("draft", "published"):
        raise Conflict(f"a {outage.status} outage cannot be changed")
    starts_at = changes.starts_at or outage.starts_at
    ends_at = changes.ends_at or outage.ends_at
    start_changed = starts_at != outage.starts_at
    _check_times(starts_at, ends_at, now, start_changed=start_changed)
    reason, contact = _check_texts(
        changes.reason if changes.reason is not None else outage.reason,
        changes.contact if changes.contact is not None else outage.contact,
    )
    old_scope = await NoticeRepository(session).outage_scope(outage.id)
    numbers = await repo.account_numbers(old_scope.account_ids)
    areas = changes.areas if changes.areas is not None else old_scope.area_codes
    feeders = changes.feeders if changes.feeders is not None else old_scope.feeder_codes
    accounts = changes.accounts if changes.accounts is not None else tuple(numbers[i] for i in old_scope.account_ids)
    account_ids = await _check_scope(repo, areas, feeders, accounts)
    scope = Scope(tuple(sorted(set(areas))), tuple(sorted(set(feeders))), tuple(sorted(account_ids)))
    if scope != old_scope:
        await _check_audience(session, clock, settings, scope, areas, feeders)

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
            "to": {"areas": list(scope.area_codes), "feeders": list(scope.feeder_codes), "accounts": list(accounts)},
        }
        # keep the rows that stay (same primary keys), drop the others, add the new ones
        outage.areas = [a for a in outage.areas if a.area_code in scope.area_codes] + [
            OutageArea(area_code=code) for code in scope.area_codes if code not in old_scope.area_codes
        ]
        outage.feeders = [f for f in outage.feeders if f.feeder_code in scope.feeder_codes] + [
            OutageFeeder(feeder_code=code) for code in scope.feeder_codes if code not in old_scope.feeder_codes
        ]
        outage.accounts = [a for a in outage.accounts if a.account_id in scope.account_ids] + [
            OutageAccount(account_id=ident) for ident in scope.account_ids if ident not in old_scope.account_ids
        ]
    if not changed:
        return outage
    outage.updated_at = now
    await session.flush()
    detail: dict[str, Any] = {"changes": changed}
    if outage.status == "published":
        stages = await NoticePlanner(session, clock, settings).reschedule(outage, start_changed=start_changed)
        detail["stages"] = _stage_list(stages)
    _audit(session, now, actor_id, "outage.update", outage.id, detail)
    return outage


async def cancel_outage(
    session: AsyncSession, clock: Clock, settings: Settings, outage_id: int, *, actor_id: int | None
) -> Outage:
    """Cancel: no more notices but a cancellation notice, to those already told only."""
    now = clock.now()
    outage = await _get(session, outage_id)
    if outage.status not in ("draft", "published"):
        raise Conflict(f"a {outage.status} outage cannot be cancelled")
    was_published = outage.status == "published"
    outage.status = "cancelled"
    outage.cancelled_at = now
    outage.updated_at = now
    stages = await NoticePlanner(session, clock, settings).cancel(outage) if was_published else []
    _audit(session, now, actor_id, "outage.cancel", outage.id, {"stages": _stage_list(stages)})
    return outage


async def complete_outage(
    session: AsyncSession, clock: Clock, settings: Settings, outage_id: int, *, actor_id: int | None
) -> Outage:
    """Power is back: a restoration notice to the outage's audience; nothing else is sent any more."""
    now = clock.now()
    outage = await _get(session, outage_id)
    if outage.status != "published":
        raise Conflict(f"only a published outage can be completed; this one is {outage.status}")
    if now < outage.starts_at:
        raise Conflict("the outage has not started yet: cancel it, or change its times")
    outage.status = "completed"
    outage.completed_at = now
    outage.updated_at = now
    stages = await NoticePlanner(session, clock, settings).restore(outage)
    _audit(session, now, actor_id, "outage.complete", outage.id, {"stages": _stage_list(stages)})
    return outage


async def outage_view(session: AsyncSession, outage_id: int) -> OutageView:
    outage = await _get(session, outage_id)
    notices = NoticeRepository(session)
    scope = await notices.outage_scope(outage.id)
    numbers = await OutageRepository(session).account_numbers(scope.account_ids)
    return OutageView(
        id=outage.id,
        kind=outage.kind,
        status=outage.status,
        areas=list(scope.area_codes),
        feeders=list(scope.feeder_codes),
        accounts=sorted(numbers.values()),
        starts_at=outage.starts_at,
        ends_at=outage.ends_at,
        reason=outage.reason,
        contact=outage.contact,
        published_at=outage.published_at,
        cancelled_at=outage.cancelled_at,
        completed_at=outage.completed_at,
        updated_at=outage.updated_at,
        stages=[
            StageView(s.stage, s.audience, s.revision, s.due_at, s.send_from, s.status, s.recipients)
            for s in await notices.stages(outage.id)
        ],
    )


# ------------------------------------------------------------------------------------------ checks


async def _get(session: AsyncSession, outage_id: int) -> Outage:
    outage = await OutageRepository(session).get_full(outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    return outage


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
) -> list[int]:
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
    return sorted(set(ids.values()))


async def _check_audience(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    scope: Scope,
    areas: tuple[str, ...],
    feeders: tuple[str, ...],
) -> None:
    planner = NoticePlanner(session, clock, settings)
    for audience in (KEY_ACCOUNT, RESIDENTIAL):
        if await planner.audience(0, scope, FIRST, audience):
            return
    field_name = "areas" if areas else "feeders" if feeders else "accounts"
    raise InvalidInput(
        "empty audience: no key-account contact and no subscribed customer to notify in this scope", field=field_name
    )


def _audit(session: AsyncSession, at: datetime, actor_id: int | None, action: str, outage_id: int, detail: Any) -> None:
    AuditRepository(session).add(
        AuditLog(at=at, staff_id=actor_id, action=action, target_type="outage", target_id=str(outage_id), detail=detail)
    )


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


# ------------------------------------------------------------------------------------------ preview


@dataclass(frozen=True, slots=True)
class PreviewItem:
    stage: str
    language: str
    audience: str
    subject: str
    text: str  # as sent on Telegram (HTML parse mode)
    buttons: list[dict[str, str]]


async def preview_outage(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    renderer: NoticeRenderer,
    outage_id: int,
    *,
    languages: tuple[str, ...] = LANGUAGES,
) -> list[PreviewItem]:
    """The notices of an outage as its recipients would read them: each stage of its plan (the plan it
    would get if published now, for a draft) and the change, cancellation and restoration notices, in
    each language, for residential subscribers and, when it affects any, for its first key account."""
    outage = await _get(session, outage_id)
    repo = NoticeRepository(session)
    facts = await load_outage_facts(repo, outage.id)
    stages = [s.stage for s in await repo.stages(outage.id) if s.stage not in (CHANGE, CANCEL, RESTORED)]
    if not stages:
        stages = [
            p.stage for p in plan_publication(outage.starts_at, clock.now(), PlannerRules.from_settings(settings))
        ]
    ordered = sorted(set(stages), key=lambda s: REGULAR_ORDER.index(s) if s in REGULAR_ORDER else 9)
    scope = await repo.outage_scope(outage.id)
    contacts = await repo.key_contacts(scope)
    key = (await repo.key_accounts([contacts[0].account_id])).get(contacts[0].account_id) if contacts else None
    items: list[PreviewItem] = []
    for stage in [*ordered, CHANGE, CANCEL, RESTORED]:
        for language in languages:
            for audience, key_info in ((RESIDENTIAL, None), (KEY_ACCOUNT, key)):
                if audience == KEY_ACCOUNT and key_info is None:
                    continue
                notice = renderer.notice(stage, language, facts, key=key_info, delivery_id=0)
                items.append(
                    PreviewItem(
                        stage=stage,
                        language=language,
                        audience=audience,
                        subject=notice.subject,
                        text=notice.html,
                        buttons=[{"title": b.title, "payload": b.payload} for b in notice.buttons],
                    )
                )
    return items


# ------------------------------------------------------------------------------------- deliveries


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    recipient: str
    account_number: str | None
    segment: str
    stage: str
    channel: str
    due_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    acked_at: datetime | None
    unconfirmed: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[DeliveryView]
    total: int
    counts: dict[str, int]


async def list_outage_deliveries(
    session: AsyncSession,
    outage_id: int,
    *,
    stage: str | None = None,
    status: str | None = None,
    segment: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> DeliveryPage:
    """Every planned and sent delivery of an outage, key accounts first, with counts per status. A final
    confirmation is `unconfirmed` once its key account's manager was alerted and it is still unanswered."""
    await _get(session, outage_id)
    rows, total, counts = await NoticeRepository(session).list_deliveries(
        outage_id, stage=stage, status=status, segment=segment, limit=limit, offset=offset
    )
    return DeliveryPage(
        items=[
            DeliveryView(
                id=d.id,
                recipient=r.recipient,
                account_number=r.account_number,
                segment=d.segment,
                stage=d.stage,
                channel=d.channel,
                due_at=d.due_at,
                status=d.status,
                attempts=d.attempts,
                sent_at=d.sent_at,
                acked_at=d.acked_at,
                unconfirmed=d.stage == FINAL and d.status == "sent" and d.unconfirmed_alerted_at is not None,
                last_error=d.last_error,
            )
            for r in rows
            for d in (r.delivery,)
        ],
        total=total,
        counts=counts,
    )
