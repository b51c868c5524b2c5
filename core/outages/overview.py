"""The outages at a glance, for the staff console: each outage with its scope, and per notice stage how many
deliveries there are, how many went out, failed or are waiting, and how many were confirmed; and the key
accounts whose final confirmation went out and nobody answered (the console shows them in red).

Above them, what is going on now (`live`): the probable faults flagged by customers' reports (open feeder
alerts), and each fault outage not restored yet with its estimated restoration (and how often it moved), the
customers it affects, the no-power reports counted on it, the notices sent per stage and its fault tickets.
And, for the previews before a fault outage is published, changed or restored, who its notices would reach
(`audience`).

Read-only; built once per process (OutageOverview()), a session per call; its SQL is in
core.outages.overview_repository. Who may see which key accounts' names follows the deliveries permission:
all of them, only the accounts a manager manages, or none (then only how many).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models.enums import Audience, DeliveryStatus, OutageStatus, Stage
from core.notices.audiences import AudienceRepository, KeyAccountInfo
from core.notices.planning import Audiences
from core.outages.facts import Scope
from core.outages.overview_repository import EstimateRecord, FeederAlertSummary, OverviewRepository, TicketLink
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
