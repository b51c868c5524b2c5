"""The outages at a glance, for the staff console: each outage with its scope, and per notice stage how many
deliveries there are, how many went out, failed or are waiting, and how many were confirmed; and the key
accounts whose final confirmation went out and nobody answered (the console shows them in red).

Above them, what is going on now (`live`): the probable faults flagged by customers' reports (open feeder
alerts), and each fault outage not restored yet with its estimated restoration (and how often it moved), the
customers it affects, the no-power reports counted on it, the notices sent per stage and its fault tickets.
And, for the previews before a fault outage is published, changed or restored, who its notices would reach
(`audience`).

Read-only; built once per process (OutageOverview()), a session per call. Who may see which key accounts'
names follows the deliveries permission: all of them, only the accounts a manager manages, or none (then
only how many).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
from core.models.enums import Audience, DeliveryStatus, OutageKind, OutageStatus, Stage, Tier
from core.notices.audiences import AudienceRepository, KeyAccountInfo
from core.notices.planning import Audiences
from core.outages.facts import Scope
from core.outages.repository import OutageRepository

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
FAULT_STAGES = (Stage.INITIAL, Stage.CHANGE, Stage.RESTORED)  # the notices of a fault outage


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
class FaultSummary:
    """A fault outage not restored yet (a draft waiting to be published, or published and going on)."""

    id: int
    status: str
    starts_at: datetime
    estimated_restoration_at: datetime | None
    reason: str
    contact: str
    areas: list[str]
    feeders: list[str]
    customers: int  # utility accounts in its scope (its areas, feeders and named accounts)
    reports: int  # customers' "no power here" counted on it
    estimates: list[EstimateRecord] = field(default_factory=list)  # oldest first
    sent: dict[str, int] = field(default_factory=dict)  # notices sent (or confirmed) per stage
    stages: list[StageCounts] = field(default_factory=list)
    tickets: list[TicketLink] = field(default_factory=list)

    @property
    def moves(self) -> int:
        """How often the estimate moved after the first one."""
        return max(0, len(self.estimates) - 1)


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


@dataclass(frozen=True, slots=True)
class LiveBoard:
    alerts: list[FeederAlertSummary]
    faults: list[FaultSummary]  # published, not restored: the outages going on
    drafts: list[FaultSummary]  # fault outages entered and not published yet


@dataclass(frozen=True, slots=True)
class AudienceSummary:
    """Who an outage's notices would reach: how many key-account contacts and subscribed customers (those who
    asked for notices in the chat), and the key accounts (named only to a viewer allowed to see them)."""

    key_contacts: int
    subscribers: int
    key_accounts: int
    named: list[str]  # the key accounts' names the viewer may see
    sample: KeyAccountInfo | None  # a key account the viewer may see, to preview its own version of a notice

    @property
    def total(self) -> int:
        return self.key_contacts + self.subscribers


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
        open_faults: bool = True,
    ) -> OutageBoard:
        """A page of outages, latest start first. names: 'all' shows every unconfirmed key account's name,
        'own' only those of the key accounts `manager_id` manages, None none. open_faults=False leaves out
        the fault outages not restored yet (the console shows them above, with `live`)."""
        repo = OverviewRepository(session)
        outages, total = await repo.page(status, limit, offset, open_faults=open_faults)
        ids = [o.id for o in outages]
        if not ids:
            return OutageBoard([], total)
        areas, feeders = await repo.scopes(ids)
        counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        for outage_id, stage, status_, n in await repo.delivery_counts(ids):
            counts[outage_id][stage][status_] += n
        unconfirmed: dict[int, list[UnconfirmedAccount]] = defaultdict(list)
        for outage_id, account_id, name, manager, alerted in await repo.unconfirmed(ids):
            visible = _visible(names, manager_id, manager)
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

    async def live(self, session: AsyncSession) -> LiveBoard:
        """What goes on now: open feeder alerts, and the fault outages not restored yet (published ones and
        drafts), each with its estimate history, customers affected, reports, notices sent and tickets."""
        repo = OverviewRepository(session)
        alerts = await repo.open_alerts()
        outages = await repo.open_faults()
        ids = [o.id for o in outages]
        if not ids:
            return LiveBoard(alerts, [], [])
        areas, feeders = await repo.scopes(ids)
        estimates = await repo.estimates(ids)
        reports = await repo.reports(ids)
        tickets = await repo.tickets(ids)
        counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        for outage_id, stage, status_, n in await repo.delivery_counts(ids):
            counts[outage_id][stage][status_] += n
        faults: list[FaultSummary] = []
        for o in outages:
            stages = [_stage(stage, counts[o.id][stage]) for stage in STAGE_ORDER if stage in counts[o.id]]
            faults.append(
                FaultSummary(
                    id=o.id,
                    status=o.status,
                    starts_at=o.starts_at,
                    estimated_restoration_at=o.estimated_restoration_at,
                    reason=o.reason,
                    contact=o.contact,
                    areas=areas.get(o.id, []),
                    feeders=feeders.get(o.id, []),
                    customers=await repo.customers(o.id),
                    reports=reports.get(o.id, 0),
                    estimates=estimates.get(o.id, []),
                    sent={s: next((c.sent for c in stages if c.stage == s), 0) for s in FAULT_STAGES},
                    stages=stages,
                    tickets=tickets.get(o.id, []),
                )
            )
        return LiveBoard(
            alerts,
            [f for f in faults if f.status == OutageStatus.PUBLISHED],
            [f for f in faults if f.status == OutageStatus.DRAFT],
        )

    async def scope(self, session: AsyncSession, outage_id: int) -> Scope:
        """What the outage affects as staff entered it (areas, feeders, named accounts)."""
        return await OutageRepository(session).scope(outage_id)

    async def audience(
        self, session: AsyncSession, audiences: Audiences, *, names: str | None, manager_id: int | None
    ) -> AudienceSummary:
        """How many people `audiences` (NoticePlanner.audiences of a scope) holds, per group, and its key
        accounts: named when `names` is 'all', or 'own' and `manager_id` manages them (as in `board`)."""
        people = [p for group in audiences.groups.values() for p in group]
        key_people = audiences.groups.get(Audience.KEY_ACCOUNT, [])
        account_ids = sorted({p.account_id for p in key_people if p.account_id is not None})
        accounts = await AudienceRepository(session).key_accounts(account_ids)
        visible = [
            accounts[i] for i in account_ids if i in accounts and _visible(names, manager_id, accounts[i].manager_id)
        ]
        return AudienceSummary(
            key_contacts=sum(1 for p in people if p.key_contact_id is not None),
            subscribers=sum(1 for p in people if p.key_contact_id is None),
            key_accounts=len(accounts),
            named=sorted(k.customer_name for k in visible),
            sample=visible[0] if visible else None,
        )


def _visible(names: str | None, manager_id: int | None, manager: int) -> bool:
    return names == "all" or (names == "own" and manager_id is not None and manager == manager_id)


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
