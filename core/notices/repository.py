"""The SQL of notices: audiences, the notice plan (stages), the outbox of deliveries. Never commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.models import (
    Area,
    Customer,
    Escalation,
    Feeder,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    NoticeDelivery,
    NoticeStage,
    Outage,
    OutageAccount,
    OutageArea,
    OutageFeeder,
    StaffUser,
    UtilityAccount,
)

KEY_SEGMENT = "key_account"
STAFF_SEGMENT = "staff"
TOLD_STATUSES = ("sending", "sent", "acked")  # the person has (or is being given) a notice
CLAIMABLE = ("pending", "sending")  # 'sending' whose lease ran out: its worker died


@dataclass(frozen=True, slots=True)
class Scope:
    """What an outage affects: whole areas, feeders, and named accounts."""

    area_codes: tuple[str, ...] = ()
    feeder_codes: tuple[str, ...] = ()
    account_ids: tuple[int, ...] = ()

    def accounts_clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.area_codes:
            parts.append(UtilityAccount.area_code.in_(self.area_codes))
        if self.feeder_codes:
            parts.append(UtilityAccount.feeder_code.in_(self.feeder_codes))
        if self.account_ids:
            parts.append(UtilityAccount.id.in_(self.account_ids))
        return or_(*parts) if parts else false()


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    account_id: int
    name: str
    telegram_chat_id: int | None
    telegram_blocked: bool
    email: str | None
    phone: str | None
    language: str
    priority: int  # the key account's priority: 1 = most critical


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    account_id: int
    segment: str
    telegram_chat_id: int
    language: str


@dataclass(frozen=True, slots=True)
class KeyAccountInfo:
    account_id: int
    account_number: str
    customer_name: str
    feeder_code: str
    manager_id: int
    manager_name: str
    manager_phone: str | None
    manager_email: str | None
    manager_chat_id: int | None
    manager_language: str = "zh"


@dataclass(frozen=True, slots=True)
class DeliveryListRow:
    delivery: NoticeDelivery
    recipient: str
    account_number: str | None


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # ----------------------------------------------------------------------------------- audiences

    async def key_contacts(self, scope: Scope, contact_ids: Collection[int] = ()) -> list[ContactRow]:
        """Contacts of the key accounts in `scope`, plus the contacts named in `contact_ids`."""
        where = scope.accounts_clause()
        if contact_ids:
            where = or_(where, KeyAccountContact.id.in_(list(contact_ids)))
        rows = await self.session.execute(
            select(KeyAccountContact, KeyAccountProfile.priority)
            .join(UtilityAccount, UtilityAccount.id == KeyAccountContact.account_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .where(where)
            .order_by(KeyAccountProfile.priority, KeyAccountContact.id)
        )
        return [
            ContactRow(
                id=c.id,
                account_id=c.account_id,
                name=c.name,
                telegram_chat_id=c.telegram_chat_id,
                telegram_blocked=c.telegram_blocked_at is not None,
                email=c.email,
                phone=c.phone,
                language=c.language,
                priority=priority,
            )
            for c, priority in rows
        ]

    async def subscribed_identities(self, scope: Scope, identity_ids: Collection[int] = ()) -> list[IdentityRow]:
        """Telegram identities subscribed to notices, not blocked, bound to an account in `scope` (or named
        in `identity_ids`): one row each, with the first such account."""
        in_scope = scope.accounts_clause()
        if identity_ids:
            in_scope = or_(in_scope, Identity.id.in_(list(identity_ids)))
        rows = await self.session.execute(
            select(Identity.id, func.min(UtilityAccount.id), Identity.telegram_chat_id, Identity.language)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .where(
                in_scope,
                IdentityAccount.is_current.is_(True),
                Identity.channel == "telegram",
                Identity.subscribed_notices.is_(True),
                Identity.blocked_at.is_(None),
                Identity.telegram_chat_id.is_not(None),
            )
            .group_by(Identity.id, Identity.telegram_chat_id, Identity.language)
            .order_by(Identity.id)
        )
        found = [(ident, account_id, chat or 0, language) for ident, account_id, chat, language in rows]
        segments = await self._segments([account_id for _, account_id, _, _ in found])
        return [
            IdentityRow(
                id=ident, account_id=account_id, segment=segments[account_id], telegram_chat_id=chat, language=language
            )
            for ident, account_id, chat, language in found
        ]

    async def _segments(self, account_ids: Sequence[int]) -> dict[int, str]:
        segments: dict[int, str] = {}
        for chunk in _chunks(sorted(set(account_ids)), 5000):
            rows = await self.session.execute(
                select(UtilityAccount.id, Customer.segment)
                .join(Customer, Customer.id == UtilityAccount.customer_id)
                .where(UtilityAccount.id.in_(chunk))
            )
            segments.update({account_id: segment for account_id, segment in rows})
        return segments

    async def told(self, outage_id: int) -> set[str]:
        """contact_keys of everyone who has been (or is being) given a notice of this outage."""
        rows = await self.session.scalars(
            select(NoticeDelivery.contact_key)
            .where(
                NoticeDelivery.outage_id == outage_id,
                NoticeDelivery.status.in_(TOLD_STATUSES),
                NoticeDelivery.segment != STAFF_SEGMENT,
            )
            .distinct()
        )
        return set(rows)

    async def key_accounts(self, account_ids: Iterable[int]) -> dict[int, KeyAccountInfo]:
        manager = aliased(StaffUser)
        rows = await self.session.execute(
            select(UtilityAccount, Customer.name, manager)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .join(manager, manager.id == KeyAccountProfile.account_manager_id)
            .where(UtilityAccount.id.in_(sorted(set(account_ids))))
        )
        return {
            account.id: KeyAccountInfo(
                account_id=account.id,
                account_number=account.account_number,
                customer_name=name,
                feeder_code=account.feeder_code,
                manager_id=staff.id,
                manager_name=staff.display_name or staff.username,
                manager_phone=staff.phone,
                manager_email=staff.email,
                manager_chat_id=staff.telegram_chat_id,
            )
            for account, name, staff in rows
        }

    # ------------------------------------------------------------------------------ outage details

    async def outage(self, outage_id: int) -> Outage | None:
        return await self.session.get(Outage, outage_id)

    async def outage_scope(self, outage_id: int) -> Scope:
        areas = await self.session.scalars(select(OutageArea.area_code).where(OutageArea.outage_id == outage_id))
        feeders = await self.session.scalars(
            select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == outage_id)
        )
        accounts = await self.session.scalars(
            select(OutageAccount.account_id).where(OutageAccount.outage_id == outage_id)
        )
        return Scope(tuple(sorted(areas)), tuple(sorted(feeders)), tuple(sorted(accounts)))

    async def account_areas(self, account_ids: Collection[int]) -> set[str]:
        if not account_ids:
            return set()
        rows = await self.session.scalars(
            select(UtilityAccount.area_code).where(UtilityAccount.id.in_(list(account_ids))).distinct()
        )
        return set(rows)

    async def areas(self, codes: Collection[str]) -> list[Area]:
        return list(await self.session.scalars(select(Area).where(Area.code.in_(list(codes))).order_by(Area.code)))

    async def feeders_of(self, scope: Scope) -> list[Feeder]:
        """Feeders an outage touches: those named, those of its areas, and those of its named accounts."""
        account_feeders = select(UtilityAccount.feeder_code).where(UtilityAccount.id.in_(scope.account_ids))
        rows = await self.session.scalars(
            select(Feeder)
            .where(
                or_(
                    Feeder.code.in_(scope.feeder_codes),
                    Feeder.area_code.in_(scope.area_codes),
                    Feeder.code.in_(account_feeders),
                )
            )
            .order_by(Feeder.code)
        )
        return list(rows)

    # ------------------------------------------------------------------------------------- stages

    async def stages(self, outage_id: int) -> list[NoticeStage]:
        return list(
            await self.session.scalars(
                select(NoticeStage).where(NoticeStage.outage_id == outage_id).order_by(NoticeStage.id)
            )
        )

    def add_stage(self, stage: NoticeStage) -> NoticeStage:
        self.session.add(stage)
        return stage

    async def stages_to_start(self, now: datetime, limit: int = 50) -> list[NoticeStage]:
        """Planned stages whose sending should start, oldest first, locked so two workers do not both start
        one (SKIP LOCKED on PostgreSQL)."""
        query = (
            select(NoticeStage)
            .where(NoticeStage.status == "planned", NoticeStage.send_from <= now)
            .order_by(NoticeStage.send_from, NoticeStage.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.scalars(query))

    async def published_without_plan(self, limit: int = 20) -> list[Outage]:
        """Planned outages published by other means than the API (the demo data): they still need a plan."""
        planned = select(NoticeStage.id).where(NoticeStage.outage_id == Outage.id).exists()
        query = (
            select(Outage)
            .where(Outage.kind == "planned", Outage.status == "published", ~planned)
            .order_by(Outage.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.scalars(query))

    # ---------------------------------------------------------------------------------- deliveries

    async def stage_rows(self, stage: NoticeStage) -> list[NoticeDelivery]:
        return list(
            await self.session.scalars(
                select(NoticeDelivery).where(
                    NoticeDelivery.outage_id == stage.outage_id,
                    NoticeDelivery.stage == stage.stage,
                    NoticeDelivery.revision == stage.revision,
                    _in_group(stage.audience),
                )
            )
        )

    async def insert_deliveries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert outbox rows; a row that exists already (same outage, contact, stage, channel, round) is
        left as it is, so two writers racing to plan the same stage do not fail."""
        for chunk in _chunks(list(rows), 2000):
            dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
            statement = dialect_insert(NoticeDelivery).on_conflict_do_nothing(
                index_elements=["outage_id", "contact_key", "stage", "channel", "revision"]
            )
            await self.session.execute(statement, list(chunk))

    async def update_rows(self, values: Sequence[Mapping[str, Any]]) -> None:
        """Update rows by id (each mapping has "id" and the same other keys)."""
        if values:
            await self.session.execute(update(NoticeDelivery), list(values))

    async def release_stage(self, stage: NoticeStage, at: datetime) -> None:
        """The stage has started: its pending rows may be claimed from `at` (or their own later retry time)."""
        await self.session.execute(
            update(NoticeDelivery)
            .where(
                NoticeDelivery.outage_id == stage.outage_id,
                NoticeDelivery.stage == stage.stage,
                NoticeDelivery.revision == stage.revision,
                _in_group(stage.audience),
                NoticeDelivery.status == "pending",
                NoticeDelivery.next_attempt_at.is_(None),
            )
            .values(next_attempt_at=at)
            .execution_options(synchronize_session=False)
        )

    async def cancel_pending(
        self, outage_id: int, reason: str, *, stage: NoticeStage | None = None, stages: Collection[str] | None = None
    ) -> int:
        """Pending deliveries of an outage (of one stage, or of some stage names) will never be sent."""
        where = [
            NoticeDelivery.outage_id == outage_id,
            NoticeDelivery.status == "pending",
            NoticeDelivery.segment != STAFF_SEGMENT,
        ]
        if stage is not None:
            where += [
                NoticeDelivery.stage == stage.stage,
                NoticeDelivery.revision == stage.revision,
                _in_group(stage.audience),
            ]
        if stages is not None:
            where.append(NoticeDelivery.stage.in_(list(stages)))
        result = await self.session.execute(
            update(NoticeDelivery)
            .where(*where)
            .values(status="cancelled", last_error=reason, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim(
        self, now: datetime, limit: int, channels: Collection[str], lease_until: datetime
    ) -> list[NoticeDelivery]:
        """Claim up to `limit` due deliveries on `channels`: 'sending' until `lease_until`, one more attempt.

        Key accounts first, then by due time. On PostgreSQL the rows are picked FOR UPDATE SKIP LOCKED, so
        several workers claim different rows; elsewhere the guarded UPDATE (status and time checked again
        in the statement itself) makes the claim atomic for one writer at a time, as SQLite has it.
        """
        if not channels:
            return []
        due = and_(
            NoticeDelivery.status.in_(CLAIMABLE),
            NoticeDelivery.next_attempt_at <= now,
            NoticeDelivery.channel.in_(list(channels)),
        )
        pick = (
            select(NoticeDelivery.id)
            .where(due)
            .order_by(NoticeDelivery.priority.desc(), NoticeDelivery.due_at, NoticeDelivery.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            # Lock the rows first, then update exactly those: a LIMIT ... SKIP LOCKED subquery inside the
            # UPDATE may be scanned again by the planner and hand back further rows each time.
            ids = list(await self.session.scalars(pick.with_for_update(skip_locked=True)))
            if not ids:
                return []
            target: ColumnElement[bool] = NoticeDelivery.id.in_(ids)
        else:
            target = NoticeDelivery.id.in_(pick.scalar_subquery())
        claimed = await self.session.scalars(
            update(NoticeDelivery)
            .where(target, due)
            .values(status="sending", next_attempt_at=lease_until, attempts=NoticeDelivery.attempts + 1)
            .returning(NoticeDelivery)
            .execution_options(synchronize_session=False)
        )
        rows = list(claimed)
        rows.sort(key=lambda d: (-d.priority, d.due_at, d.id))
        return rows

    async def record(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Record send results in one statement per shape: each mapping has b_id and the new status,
        next_attempt_at, sent_at and last_error. Only rows still 'sending' change (an acknowledgement
        that raced ahead of the record stays)."""
        if not results:
            return
        table = NoticeDelivery.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == "sending")
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next"),
                sent_at=bindparam("b_sent"),
                last_error=bindparam("b_error"),
            )
        )
        for chunk in _chunks(list(results), 1000):
            await self.session.execute(statement, list(chunk))

    async def waiting_on(self, channels: Collection[str], now: datetime) -> int:
        """Due deliveries on channels this worker cannot send on."""
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(NoticeDelivery)
                .where(
                    NoticeDelivery.status == "pending",
                    NoticeDelivery.next_attempt_at <= now,
                    NoticeDelivery.channel.in_(list(channels)),
                )
            )
            or 0
        )

    async def get(self, delivery_id: int) -> NoticeDelivery | None:
        return await self.session.get(NoticeDelivery, delivery_id)

    # ------------------------------------------------------------------------- blocked recipients

    async def mark_identities_blocked(self, chat_ids: Collection[int], at: datetime) -> None:
        if chat_ids:
            await self.session.execute(
                update(Identity)
                .where(Identity.telegram_chat_id.in_(list(chat_ids)), Identity.blocked_at.is_(None))
                .values(blocked_at=at)
                .execution_options(synchronize_session=False)
            )

    async def mark_contacts_blocked(self, contact_ids: Collection[int], at: datetime) -> None:
        if contact_ids:
            await self.session.execute(
                update(KeyAccountContact)
                .where(KeyAccountContact.id.in_(list(contact_ids)), KeyAccountContact.telegram_blocked_at.is_(None))
                .values(telegram_blocked_at=at)
                .execution_options(synchronize_session=False)
            )

    async def contacts(self, ids: Collection[int]) -> dict[int, KeyAccountContact]:
        rows = await self.session.scalars(select(KeyAccountContact).where(KeyAccountContact.id.in_(list(ids))))
        return {c.id: c for c in rows}

    # ------------------------------------------------------------------------------ the staff API

    async def list_deliveries(
        self,
        outage_id: int,
        *,
        stage: str | None,
        status: str | None,
        segment: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[DeliveryListRow], int, dict[str, int]]:
        """Customer deliveries of an outage, key accounts first; the total, and counts per status (under the
        stage and segment filters, whatever the status filter)."""
        where = [NoticeDelivery.outage_id == outage_id, NoticeDelivery.segment != STAFF_SEGMENT]
        if stage:
            where.append(NoticeDelivery.stage == stage)
        if segment:
            where.append(NoticeDelivery.segment == segment)
        counts = {
            name: int(n)
            for name, n in await self.session.execute(
                select(NoticeDelivery.status, func.count()).where(*where).group_by(NoticeDelivery.status)
            )
        }
        if status:
            where.append(NoticeDelivery.status == status)
        total = int(await self.session.scalar(select(func.count()).select_from(NoticeDelivery).where(*where)) or 0)
        identity_customer = (
            select(Customer.name)
            .join(UtilityAccount, UtilityAccount.customer_id == Customer.id)
            .where(UtilityAccount.id == NoticeDelivery.account_id)
            .scalar_subquery()
        )
        recipient = case((NoticeDelivery.key_contact_id.is_not(None), KeyAccountContact.name), else_=identity_customer)
        rows = await self.session.execute(
            select(NoticeDelivery, recipient, UtilityAccount.account_number)
            .outerjoin(KeyAccountContact, KeyAccountContact.id == NoticeDelivery.key_contact_id)
            .outerjoin(UtilityAccount, UtilityAccount.id == NoticeDelivery.account_id)
            .where(*where)
            .order_by(NoticeDelivery.priority.desc(), NoticeDelivery.due_at, NoticeDelivery.id)
            .limit(limit)
            .offset(offset)
        )
        items = [DeliveryListRow(d, name or "", number) for d, name, number in rows]
        return items, total, counts

    # ------------------------------------------------------------------------------- confirmations

    async def open_for(
        self, *, identity_id: int | None, chat_id: int | None, stages: Collection[str] | None, now: datetime
    ) -> list[NoticeDelivery]:
        """Notices sent to this person, not acknowledged, of outages still to come or under way; newest first."""
        who: list[ColumnElement[bool]] = []
        if identity_id is not None:
            who.append(NoticeDelivery.identity_id == identity_id)
        if chat_id is not None:
            who.append(and_(NoticeDelivery.telegram_chat_id == chat_id, NoticeDelivery.channel == "telegram"))
        if not who:
            return []
        where = [
            or_(*who),
            NoticeDelivery.status.in_(("sent", "sending")),
            NoticeDelivery.segment != STAFF_SEGMENT,
            Outage.status == "published",
            Outage.ends_at > now,
        ]
        if stages is not None:
            where.append(NoticeDelivery.stage.in_(list(stages)))
        rows = await self.session.scalars(
            select(NoticeDelivery)
            .join(Outage, Outage.id == NoticeDelivery.outage_id)
            .where(*where)
            .order_by(NoticeDelivery.sent_at.desc(), NoticeDelivery.id.desc())
        )
        return list(rows)

    async def open_problem(self, delivery_id: int) -> Escalation | None:
        return await self.session.scalar(
            select(Escalation).where(
                Escalation.delivery_id == delivery_id,
                Escalation.reason == "notice_problem",
                Escalation.state.in_(("pending", "assigned")),
            )
        )

    async def unconfirmed_contact_names(self, outage_id: int, account_id: int, revision: int) -> list[str]:
        """Names of a key account's contacts whose final confirmation (of that round) is unanswered."""
        rows = await self.session.scalars(
            select(KeyAccountContact.name)
            .join(NoticeDelivery, NoticeDelivery.key_contact_id == KeyAccountContact.id)
            .where(
                NoticeDelivery.outage_id == outage_id,
                NoticeDelivery.account_id == account_id,
                NoticeDelivery.revision == revision,
                NoticeDelivery.segment == KEY_SEGMENT,
                NoticeDelivery.status == "sent",
                NoticeDelivery.stage.in_(("30m",)),
            )
            .distinct()
            .order_by(KeyAccountContact.name)
        )
        return list(rows)

    async def same_notice(self, delivery: NoticeDelivery) -> list[NoticeDelivery]:
        """The rows of one notice to one person (every channel it went on)."""
        return list(
            await self.session.scalars(
                select(NoticeDelivery).where(
                    NoticeDelivery.outage_id == delivery.outage_id,
                    NoticeDelivery.contact_key == delivery.contact_key,
                    NoticeDelivery.stage == delivery.stage,
                    NoticeDelivery.revision == delivery.revision,
                )
            )
        )

    async def unconfirmed(self, sent_before: datetime, stages: Collection[str]) -> list[NoticeDelivery]:
        """Key-account final confirmations sent before `sent_before`, still unanswered and not chased yet,
        of published outages; an account that confirmed on any of its rows is not unconfirmed."""
        acked = aliased(NoticeDelivery)
        confirmed = (
            select(acked.id)
            .where(
                acked.outage_id == NoticeDelivery.outage_id,
                acked.account_id == NoticeDelivery.account_id,
                acked.stage == NoticeDelivery.stage,
                acked.revision == NoticeDelivery.revision,
                acked.status == "acked",
            )
            .exists()
        )
        rows = await self.session.scalars(
            select(NoticeDelivery)
            .join(Outage, Outage.id == NoticeDelivery.outage_id)
            .where(
                NoticeDelivery.segment == KEY_SEGMENT,
                NoticeDelivery.stage.in_(list(stages)),
                NoticeDelivery.status == "sent",
                NoticeDelivery.sent_at <= sent_before,
                NoticeDelivery.unconfirmed_alerted_at.is_(None),
                Outage.status == "published",
                ~confirmed,
            )
            .order_by(NoticeDelivery.outage_id, NoticeDelivery.account_id, NoticeDelivery.id)
        )
        return list(rows)


def _in_group(audience: str) -> ColumnElement[bool]:
    if audience == KEY_SEGMENT:
        return NoticeDelivery.segment == KEY_SEGMENT
    return and_(NoticeDelivery.segment != KEY_SEGMENT, NoticeDelivery.segment != STAFF_SEGMENT)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
