"""The outages at a glance, for the staff console: each outage with its scope, and per notice stage how many
deliveries there are, how many went out, failed or are waiting, and how many were confirmed; and the key
accounts whose final confirmation went out and nobody answered (the console shows them in red).

Read-only; built once per process (OutageOverview()), a session per call. Who may see which key accounts'
names follows the deliveries permission: all of them, only the accounts a manager manages, or none (then
only how many).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db.repository import RepositoryBase
from core.models import (
    Customer,
    KeyAccountProfile,
    NoticeDelivery,
    Outage,
    OutageArea,
    OutageFeeder,
    UtilityAccount,
)
from core.models.enums import DeliveryStatus, OutageStatus, Stage, Tier

STAGE_ORDER = (
    Stage.INITIAL,
    Stage.FIRST,
    Stage.SECOND,
    Stage.FINAL,
    Stage.CHANGE,
    Stage.CANCEL,
    Stage.RESTORED,
)
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
SENT = (DeliveryStatus.SENT, DeliveryStatus.ACKED)
NOT_SENT = (DeliveryStatus.FAILED, DeliveryStatus.BLOCKED)


@dataclass(frozen=True, slots=True)
class StageCounts:
    stage: str
    total: int = 0
    waiting: int = 0  # pending or being sent
    sent: int = 0  # sent or confirmed
    confirmed: int = 0
    failed: int = 0  # failed or blocked
    cancelled: int = 0
    skipped: int = 0  # not sent because it was too late: superseded by a later notice, or past its deadline


@dataclass(frozen=True, slots=True)
class UnconfirmedAccount:
    account_id: int
    name: str | None  # None: the viewer may not see key accounts' names
    manager_id: int
    manager_alerted: bool


@dataclass(frozen=True, slots=True)
class OutageSummary:
    id: int
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    areas: list[str]
    feeders: list[str]
    stages: list[StageCounts] = field(default_factory=list)
    unconfirmed: list[UnconfirmedAccount] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutageBoard:
    items: list[OutageSummary]
    total: int


class OverviewRepository(RepositoryBase[Outage]):
    model = Outage

    async def page(self, status: str | None, limit: int, offset: int) -> tuple[list[Outage], int]:
        where: list[ColumnElement[bool]] = [] if status is None else [Outage.status == status]
        total = int(await self.session.scalar(select(func.count()).select_from(Outage).where(*where)) or 0)
        rows = await self.session.scalars(
            select(Outage).where(*where).order_by(Outage.starts_at.desc(), Outage.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), total

    async def scopes(self, ids: Collection[int]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
        areas: dict[int, list[str]] = defaultdict(list)
        feeders: dict[int, list[str]] = defaultdict(list)
        for outage_id, code in await self.session.execute(
            select(OutageArea.outage_id, OutageArea.area_code)
            .where(OutageArea.outage_id.in_(list(ids)))
            .order_by(OutageArea.area_code)
        ):
            areas[outage_id].append(code)
        for outage_id, code in await self.session.execute(
            select(OutageFeeder.outage_id, OutageFeeder.feeder_code)
            .where(OutageFeeder.outage_id.in_(list(ids)))
            .order_by(OutageFeeder.feeder_code)
        ):
            feeders[outage_id].append(code)
        return areas, feeders

    async def delivery_counts(self, ids: Collection[int]) -> list[tuple[int, str, str, int]]:
        """(outage, stage, status, rows) of the customers' deliveries (no staff alerts)."""
        rows = await self.session.execute(
            select(NoticeDelivery.outage_id, NoticeDelivery.stage, NoticeDelivery.status, func.count())
            .where(NoticeDelivery.outage_id.in_(list(ids)), NoticeDelivery.tier != Tier.STAFF)
            .group_by(NoticeDelivery.outage_id, NoticeDelivery.stage, NoticeDelivery.status)
        )
        return [(int(o or 0), str(stage), str(status), int(n)) for o, stage, status, n in rows]

    async def unconfirmed(self, ids: Collection[int]) -> list[tuple[int, int, str, int, bool]]:
        """(outage, key account, its name, its manager, manager alerted) of published outages whose final
        confirmation went out to the key account and none of its contacts answered (in that round or later)."""
        acked = aliased(NoticeDelivery)
        confirmed = (
            select(acked.id)
            .where(
                acked.outage_id == NoticeDelivery.outage_id,
                acked.account_id == NoticeDelivery.account_id,
                acked.stage == Stage.FINAL,
                acked.revision >= NoticeDelivery.revision,
                acked.status == DeliveryStatus.ACKED,
            )
            .exists()
        )
        rows = await self.session.execute(
            select(
                NoticeDelivery.outage_id,
                NoticeDelivery.account_id,
                Customer.name,
                KeyAccountProfile.account_manager_id,
                func.max(NoticeDelivery.unconfirmed_alerted_at),
            )
            .join(Outage, Outage.id == NoticeDelivery.outage_id)
            .join(UtilityAccount, UtilityAccount.id == NoticeDelivery.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .where(
                NoticeDelivery.outage_id.in_(list(ids)),
                NoticeDelivery.tier == Tier.KEY_ACCOUNT,
                NoticeDelivery.stage == Stage.FINAL,
                NoticeDelivery.status == DeliveryStatus.SENT,
                Outage.status == OutageStatus.PUBLISHED,
                ~confirmed,
            )
            .group_by(
                NoticeDelivery.outage_id, NoticeDelivery.account_id, Customer.name, KeyAccountProfile.account_manager_id
            )
            .order_by(NoticeDelivery.outage_id, Customer.name)
        )
        return [(int(o or 0), int(a or 0), str(name), int(m), alerted is not None) for o, a, name, m, alerted in rows]


class OutageOverview:
    async def board(
        self,
        session: AsyncSession,
        *,
        status: str | None = None,
        names: str | None = None,
        manager_id: int | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> OutageBoard:
        """A page of outages, latest start first. names: 'all' shows every unconfirmed key account's name,
        'own' only those of the key accounts `manager_id` manages, None none."""
        repo = OverviewRepository(session)
        outages, total = await repo.page(status, limit, offset)
        ids = [o.id for o in outages]
        if not ids:
            return OutageBoard([], total)
        areas, feeders = await repo.scopes(ids)
        counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        for outage_id, stage, status_, n in await repo.delivery_counts(ids):
            counts[outage_id][stage][status_] += n
        unconfirmed: dict[int, list[UnconfirmedAccount]] = defaultdict(list)
        for outage_id, account_id, name, manager, alerted in await repo.unconfirmed(ids):
            visible = names == "all" or (names == "own" and manager_id is not None and manager == manager_id)
            unconfirmed[outage_id].append(UnconfirmedAccount(account_id, name if visible else None, manager, alerted))
        return OutageBoard(
            [
                OutageSummary(
                    id=o.id,
                    kind=o.kind,
                    status=o.status,
                    starts_at=o.starts_at,
                    ends_at=o.ends_at,
                    reason=o.reason,
                    areas=areas.get(o.id, []),
                    feeders=feeders.get(o.id, []),
                    stages=[_stage(stage, counts[o.id][stage]) for stage in STAGE_ORDER if stage in counts[o.id]],
                    unconfirmed=unconfirmed.get(o.id, []),
                )
                for o in outages
            ],
            total,
        )


def _stage(stage: str, by_status: dict[str, int]) -> StageCounts:
    def total(statuses: Collection[str]) -> int:
        return sum(by_status.get(s, 0) for s in statuses)

    return StageCounts(
        stage=stage,
        total=sum(by_status.values()),
        waiting=total(WAITING),
        sent=total(SENT),
        confirmed=by_status.get(DeliveryStatus.ACKED, 0),
        failed=total(NOT_SENT),
        cancelled=by_status.get(DeliveryStatus.CANCELLED, 0),
        skipped=by_status.get(DeliveryStatus.SKIPPED, 0),
    )
