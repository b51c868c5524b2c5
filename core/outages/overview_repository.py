"""The SQL of the outages overview (core.outages.overview): a page of outages with their scope, the customers'
deliveries counted per stage and status, the key accounts whose final confirmation nobody answered; and what
goes on now: the fault outages not restored yet with their estimates, reports, tickets and customers, and the
open feeder alerts. Also the rows it reads back as they are (an estimate, a linked ticket, a feeder alert).
Works inside the caller's session; never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from core.db.repository import RepositoryBase
from core.models import (
    Area,
    Customer,
    FaultTicket,
    Feeder,
    FeederAlert,
    KeyAccountProfile,
    NoticeDelivery,
    Outage,
    OutageAccount,
    OutageArea,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    UtilityAccount,
)
from core.models.enums import OutageKind, OutageStatus, Tier
from core.notices.confirmation_repository import confirmation_owed


@dataclass(frozen=True, slots=True)
class EstimateRecord:
    """One "expected back by" of a fault outage, and when staff set it."""

    estimated_restoration_at: datetime
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class TicketLink:
    id: int
    reference: str
    status: str
    hazard: bool


@dataclass(frozen=True, slots=True)
class FeederAlertSummary:
    """A probable fault: several customers on one feeder said they have no power, and no outage explains it."""

    id: int
    feeder_code: str
    feeder_name: str
    area_code: str
    area_name: str
    area_name_en: str
    reports: int
    first_report_at: datetime
    created_at: datetime
    outage_id: int | None


def _fault_open() -> ColumnElement[bool]:
    """A fault outage not restored (nor cancelled) yet: a draft, or published and going on."""
    return and_(Outage.kind == OutageKind.UNPLANNED, Outage.status.in_((OutageStatus.DRAFT, OutageStatus.PUBLISHED)))


class OverviewRepository(RepositoryBase[Outage]):
    model = Outage

    async def page(
        self, status: str | None, limit: int, offset: int, *, open_faults: bool = True
    ) -> tuple[list[Outage], int]:
        where: list[ColumnElement[bool]] = [] if status is None else [Outage.status == status]
        if not open_faults:
            where.append(not_(_fault_open()))
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
        confirmation is owed by the key account (core.notices.confirmation_repository.confirmation_owed)."""
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
                confirmation_owed(),
            )
            .group_by(
                NoticeDelivery.outage_id, NoticeDelivery.account_id, Customer.name, KeyAccountProfile.account_manager_id
            )
            .order_by(NoticeDelivery.outage_id, Customer.name)
        )
        return [(int(o or 0), int(a or 0), str(name), int(m), alerted is not None) for o, a, name, m, alerted in rows]

    # ------------------------------------------------------------------------------ what goes on now

    async def open_faults(self) -> list[Outage]:
        """Fault outages not restored yet, the latest start first."""
        rows = await self.session.scalars(
            select(Outage).where(_fault_open()).order_by(Outage.starts_at.desc(), Outage.id.desc())
        )
        return list(rows)

    async def estimates(self, ids: Collection[int]) -> dict[int, list[EstimateRecord]]:
        found: dict[int, list[EstimateRecord]] = defaultdict(list)
        for outage_id, estimate, changed_at in await self.session.execute(
            select(OutageEstimate.outage_id, OutageEstimate.estimated_restoration_at, OutageEstimate.changed_at)
            .where(OutageEstimate.outage_id.in_(list(ids)))
            .order_by(OutageEstimate.outage_id, OutageEstimate.changed_at, OutageEstimate.id)
        ):
            found[outage_id].append(EstimateRecord(estimate, changed_at))
        return found

    async def reports(self, ids: Collection[int]) -> dict[int, int]:
        rows = await self.session.execute(
            select(OutageReport.outage_id, func.count())
            .where(OutageReport.outage_id.in_(list(ids)))
            .group_by(OutageReport.outage_id)
        )
        return {int(outage_id or 0): int(n) for outage_id, n in rows}

    async def tickets(self, ids: Collection[int]) -> dict[int, list[TicketLink]]:
        found: dict[int, list[TicketLink]] = defaultdict(list)
        for ticket in await self.session.scalars(
            select(FaultTicket).where(FaultTicket.outage_id.in_(list(ids))).order_by(FaultTicket.id)
        ):
            assert ticket.outage_id is not None
            found[ticket.outage_id].append(TicketLink(ticket.id, ticket.reference, ticket.status, ticket.hazard))
        return found

    async def customers(self, outage_id: int) -> int:
        """Utility accounts in the outage's scope: in its areas, on its feeders, or named."""
        in_scope = or_(
            UtilityAccount.area_code.in_(select(OutageArea.area_code).where(OutageArea.outage_id == outage_id)),
            UtilityAccount.feeder_code.in_(select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == outage_id)),
            UtilityAccount.id.in_(select(OutageAccount.account_id).where(OutageAccount.outage_id == outage_id)),
        )
        return int(await self.session.scalar(select(func.count(UtilityAccount.id)).where(in_scope)) or 0)

    async def open_alerts(self) -> list[FeederAlertSummary]:
        """Feeder alerts not closed, the most reported first."""
        rows = await self.session.execute(
            select(FeederAlert, Feeder.name, Area.code, Area.name, Area.name_en)
            .join(Feeder, Feeder.code == FeederAlert.feeder_code)
            .join(Area, Area.code == Feeder.area_code)
            .where(FeederAlert.closed_at.is_(None))
            .order_by(FeederAlert.reports.desc(), FeederAlert.first_report_at, FeederAlert.id)
        )
        return [
            FeederAlertSummary(
                id=alert.id,
                feeder_code=alert.feeder_code,
                feeder_name=feeder_name,
                area_code=area_code,
                area_name=area_name,
                area_name_en=area_name_en,
                reports=alert.reports,
                first_report_at=alert.first_report_at,
                created_at=alert.created_at,
                outage_id=alert.outage_id,
            )
            for alert, feeder_name, area_code, area_name, area_name_en in rows
        ]
