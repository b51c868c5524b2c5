"""The SQL of the outbox as planned: notice stages (the plan) and delivery rows (stored from drafts,
re-planned, released, cancelled or skipped), and the staff's list of them. Never commits. Rows are built in
one place only: core.notices.outbox.DeliveryDraft.row; the dispatcher claims and records them through
core.notices.queue_repository."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Row, Table, bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from core.models import (
    Customer,
    KeyAccountContact,
    KeyAccountProfile,
    NoticeDelivery,
    NoticeStage,
    Outage,
    UtilityAccount,
)
from core.models.enums import (
    Audience,
    DeliveryStatus,
    OutageKind,
    OutageStatus,
    Stage,
    StageStatus,
    Tier,
)
from core.notices.outbox import DeliveryDraft
from core.notices.sql import chunks, dialect_name

TOLD_IN_CHAT = "told in the chat"
RECORDS_PER_INSERT = 60_000  # rows written by one set-based INSERT (store_rounds on PostgreSQL)
UNIQUE_ROUND = ["subject_kind", "subject_id", "contact_key", "stage", "channel", "revision"]


def in_group(audience: str) -> ColumnElement[bool]:
    """The rows of one audience group of a notice plan."""
    return NoticeDelivery.tier == (Tier.KEY_ACCOUNT if audience == Audience.KEY_ACCOUNT else Tier.EVERYONE)


def _bound(kind: TypeEngine[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    """Values as the column's type binds them (an enum member checked and turned into its value, a time into
    UTC), each distinct value processed once."""
    process = kind.bind_processor(dialect)
    if process is None:
        return values
    bound = {value: process(value) for value in set(values)}
    return [bound[value] for value in values]


class StageRepository:
    """The notice plan: one row per outage × stage × audience group × round."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_outage(self, outage_id: int) -> list[NoticeStage]:
        return list(
            await self.session.scalars(
                select(NoticeStage).where(NoticeStage.outage_id == outage_id).order_by(NoticeStage.id)
            )
        )

    def add(self, stage: NoticeStage) -> NoticeStage:
        self.session.add(stage)
        return stage

    async def to_start(self, now: datetime, limit: int = 50) -> list[NoticeStage]:
        """Planned stages whose sending should start, oldest first, locked so two workers do not both start
        one (SKIP LOCKED on PostgreSQL)."""
        query = (
            select(NoticeStage)
            .where(NoticeStage.status == StageStatus.PLANNED, NoticeStage.send_from <= now)
            .order_by(NoticeStage.send_from, NoticeStage.id)
            .limit(limit)
        )
        if dialect_name(self.session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.scalars(query))

    async def published_without_plan(self, limit: int = 20) -> list[Outage]:
        """Planned outages published by other means than the API (the demo data): they still need a plan."""
        planned = select(NoticeStage.id).where(NoticeStage.outage_id == Outage.id).exists()
        query = (
            select(Outage)
            .where(Outage.kind == OutageKind.PLANNED, Outage.status == OutageStatus.PUBLISHED, ~planned)
            .order_by(Outage.id)
            .limit(limit)
        )
        if dialect_name(self.session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.scalars(query))


@dataclass(frozen=True, slots=True)
class DeliveryListRow:
    delivery: NoticeDelivery
    recipient: str
    account_number: str | None


class OutboxRepository:
    """Delivery rows: stored from drafts, re-planned, released when their stage starts, cancelled or
    skipped."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, delivery_id: int) -> NoticeDelivery | None:
        return await self.session.get(NoticeDelivery, delivery_id)

    async def store(self, drafts: Iterable[DeliveryDraft], now: datetime) -> None:
        """Store drafts as pending rows; a row that exists already (same subject, person, purpose, channel
        and round) is left as it is, so two writers racing to plan the same stage do not fail."""
        await self._insert([d.row(now) for d in drafts])

    async def _insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert = postgresql.insert if dialect_name(self.session) == "postgresql" else sqlite.insert
        for chunk in chunks(rows, 2000):
            statement = insert(NoticeDelivery).on_conflict_do_nothing(index_elements=UNIQUE_ROUND)
            await self.session.execute(statement, list(chunk))

    async def store_rounds(
        self, rows: Sequence[Mapping[str, Any]], rounds: Sequence[Mapping[str, Any]], *, fresh: bool = False
    ) -> None:
        """Store `rows` once per round, each round setting some columns to one value for every row (a notice
        plan's stages: the same people and routes, each stage with its name, due time and release): the same
        as store() of every row of every round, existing rows left as they are. fresh: the rounds are new
        (their notice_stages rows were just added in this transaction, whose unique constraint holds off a
        second planner of the same round), so no row of theirs can exist yet and the PostgreSQL INSERT needs
        no ON CONFLICT clause (its speculative insertion costs as much again as the insert itself).

        On PostgreSQL it is set-based: one INSERT ... SELECT FROM (VALUES rounds) CROSS JOIN unnest(arrays) per
        RECORDS_PER_INSERT rows. The rows travel once, as one array per column (a column with one value for all
        as that value), instead of one bind per row and round, and the server inserts them in one go."""
        if not rows or not rounds:
            return
        unique: dict[tuple[Any, Any], Mapping[str, Any]] = {}
        for row in rows:  # one row per person and channel (the first), as the unique round key has it
            unique.setdefault((row["contact_key"], row["channel"]), row)
        rows = list(unique.values())
        if dialect_name(self.session) != "postgresql":
            await self._insert([{**row, **fixed} for fixed in rounds for row in rows])
            return
        table = NoticeDelivery.__table__
        assert isinstance(table, Table)
        dialect = self.session.get_bind().dialect
        names = list(rows[0])
        ddl = {name: table.c[name].type.compile(dialect=dialect) for name in names}
        per_round = list(rounds[0])
        if any(list(r) != per_round for r in rounds):
            raise ValueError("every round sets the same columns")
        columns = {name: [row[name] for row in rows] for name in names if name not in per_round}
        same = {  # a column with one value for every row is sent once (the person's key always varies)
            name: values[0] for name, values in columns.items() if name != "contact_key" and len(set(values)) == 1
        }
        varying = [name for name in columns if name not in same]
        arrays = [_bound(table.c[name].type, columns[name], dialect) for name in varying]  # as the column binds
        params = [bindparam(f"c_{name}", value, type_=table.c[name].type) for name, value in same.items()]
        values = []
        for i, fixed in enumerate(rounds):
            params += [bindparam(f"r{i}_{name}", fixed[name], type_=table.c[name].type) for name in per_round]
            values.append(f"({', '.join(f'CAST(:r{i}_{name} AS {ddl[name]})' for name in per_round)})")
        selected = [
            *(f"CAST(:c_{name} AS {ddl[name]})" for name in same),
            *(f"r.{name}" for name in per_round),
            *(f"u.{name}" for name in varying),
        ]
        statement = text(
            f"INSERT INTO {table.name} ({', '.join([*same, *per_round, *varying])}) "
            f"SELECT {', '.join(selected)} "
            f"FROM (VALUES {', '.join(values)}) AS r({', '.join(per_round)}) "
            f"CROSS JOIN unnest({', '.join(f'CAST(:a_{name} AS {ddl[name]}[])' for name in varying)}) "
            f"AS u({', '.join(varying)})" + ("" if fresh else f" ON CONFLICT ({', '.join(UNIQUE_ROUND)}) DO NOTHING")
        ).bindparams(*params)
        size = max(RECORDS_PER_INSERT // len(rounds), 1)
        for start in range(0, len(rows), size):
            await self.session.execute(
                statement,
                {f"a_{name}": array[start : start + size] for name, array in zip(varying, arrays, strict=True)},
            )

    async def stage_rows(self, stage: NoticeStage) -> list[Row[Any]]:
        """The rows of a stage, as much of them as re-planning compares (not whole ORM objects: a stage may
        have a hundred thousand)."""
        result = await self.session.execute(
            select(
                NoticeDelivery.id,
                NoticeDelivery.contact_key,
                NoticeDelivery.channel,
                NoticeDelivery.status,
                NoticeDelivery.last_error,
                *(getattr(NoticeDelivery, name) for name in DeliveryDraft.MUTABLE),
            ).where(
                NoticeDelivery.outage_id == stage.outage_id,
                NoticeDelivery.stage == stage.stage,
                NoticeDelivery.revision == stage.revision,
                in_group(stage.audience),
            )
        )
        return list(result.all())

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
                in_group(stage.audience),
                NoticeDelivery.status == DeliveryStatus.PENDING,
                NoticeDelivery.next_attempt_at.is_(None),
            )
            .values(next_attempt_at=at)
            .execution_options(synchronize_session=False)
        )

    async def cancel_pending(
        self,
        outage_id: int,
        reason: str,
        *,
        stage: NoticeStage | None = None,
        stages: Collection[str] | None = None,
        sending: bool = False,
        contact_keys: Collection[str] | None = None,
    ) -> int:
        """Pending customer deliveries of an outage (of one stage, or of some stage names; of some people)
        will never be sent. sending: rows claimed by a dispatcher ('sending') are cancelled too; its result is
        then not recorded (record changes only rows still 'sending'), so a cancelled notice is never brought
        back."""
        statuses = (DeliveryStatus.PENDING, DeliveryStatus.SENDING) if sending else (DeliveryStatus.PENDING,)
        where = [
            NoticeDelivery.outage_id == outage_id,
            NoticeDelivery.status.in_(statuses),
            NoticeDelivery.tier != Tier.STAFF,
        ]
        if stage is not None:
            where += [
                NoticeDelivery.stage == stage.stage,
                NoticeDelivery.revision == stage.revision,
                in_group(stage.audience),
            ]
        if stages is not None:
            where.append(NoticeDelivery.stage.in_(list(stages)))
        if contact_keys is not None:
            where.append(NoticeDelivery.contact_key.in_(list(contact_keys)))
        result = await self.session.execute(
            update(NoticeDelivery)
            .where(*where)
            .values(status=DeliveryStatus.CANCELLED, last_error=reason, next_attempt_at=None, claim_token=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def skip_superseded(
        self, outage_id: int, audience: str, stages: Collection[str], due_before: datetime, reason: str
    ) -> int:
        """Pending rows of earlier regular stages of an outage and audience, due before a later stage that
        has started: they are skipped (one notice, the latest, instead of several at once)."""
        if not stages:
            return 0
        result = await self.session.execute(
            update(NoticeDelivery)
            .where(
                NoticeDelivery.outage_id == outage_id,
                NoticeDelivery.status == DeliveryStatus.PENDING,
                NoticeDelivery.stage.in_(list(stages)),
                NoticeDelivery.due_at < due_before,
                in_group(audience),
            )
            .values(status=DeliveryStatus.SKIPPED, last_error=reason, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def skip_told_in_chat(self, outage_ids: Collection[int], contact_key: str) -> int:
        """A customer told of these outages in the chat: their faults' "we know" notices still waiting for
        that person are not sent (skipped)."""
        if not outage_ids:
            return 0
        faults = select(Outage.id).where(Outage.id.in_(list(outage_ids)), Outage.kind == OutageKind.UNPLANNED)
        result = await self.session.execute(
            update(NoticeDelivery)
            .where(
                NoticeDelivery.outage_id.in_(faults),
                NoticeDelivery.contact_key == contact_key,
                NoticeDelivery.stage == Stage.INITIAL,
                NoticeDelivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.SKIPPED, last_error=TOLD_IN_CHAT, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

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
        manager_id: int | None = None,
    ) -> tuple[list[DeliveryListRow], int, dict[str, int]]:
        """Customer deliveries of an outage, key accounts first; the total, and counts per status (under the
        stage, segment and manager filters, whatever the status filter). manager_id: only the deliveries of
        the key accounts this account manager manages (key_account_profiles.account_manager_id)."""
        where = [NoticeDelivery.outage_id == outage_id, NoticeDelivery.tier != Tier.STAFF]
        if stage:
            where.append(NoticeDelivery.stage == stage)
        if segment:
            where.append(NoticeDelivery.segment == segment)
        if manager_id is not None:
            where.append(
                NoticeDelivery.account_id.in_(
                    select(KeyAccountProfile.account_id).where(KeyAccountProfile.account_manager_id == manager_id)
                )
            )
        counts = {
            str(name): int(n)
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
            .order_by(NoticeDelivery.tier, NoticeDelivery.priority.desc(), NoticeDelivery.due_at, NoticeDelivery.id)
            .limit(limit)
            .offset(offset)
        )
        items = [DeliveryListRow(d, name or "", number) for d, name, number in rows]
        return items, total, counts
