"""Customers' "no power here" (停电了): counted, not a ticket each, when a known fault outage covers them; kept by
feeder when none does, so that several on one feeder within a few minutes flag a probable fault for staff.

- Inside a current fault outage (published, unplanned, not restored) that touches the account: one
  OutageReport per identity per outage; the customer is told the outage is known, its estimate, and how many
  customers reported it. No ticket (a hazard still opens one: the fault skill never counts a hazard away).
- Outside any: the ticket opens as usual, plus an OutageReport(outage_id=None, feeder_code=the account's
  feeder, ticket_id). When that makes `cluster_reports` reporters on the feeder within `cluster_window` and no
  FeederAlert is open there (closed_at null), a FeederAlert is created (and logged) for staff; while one is
  open, its count follows the reports that come in. Reports from before staff closed the feeder's last alert
  do not count towards a new one (staff have looked at them).

The feeder row is locked (PostgreSQL `FOR UPDATE`) while a feeder report is counted, so two reports at the same
moment cannot both miss the threshold or both open an alert. Built once per process; a session per call; never
commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.db.repository import RepositoryBase
from core.models import FaultTicket, Feeder, FeederAlert, Identity, Outage, OutageReport, UtilityAccount
from core.models.enums import OutageKind
from core.outages.facts import OutageFacts
from core.outages.repository import OutageRepository

log = logging.getLogger("gridtalk.faults")


@dataclass(frozen=True, slots=True)
class CountedReport:
    """A "no power here" counted on a known outage."""

    outage: OutageFacts
    reports: int  # customers who reported it, this one included
    new: bool  # False: this customer had reported it already (not counted twice)


# ------------------------------------------------------------------------------------------ repository


class OutageReportRepository(RepositoryBase[OutageReport]):
    model = OutageReport

    async def current_faults(self, now: datetime, account: UtilityAccount) -> list[Outage]:
        """The fault outages going on now (published, not restored) that touch the account."""
        return [o for o in await OutageRepository(self.session).current(now, account) if o.kind == OutageKind.UNPLANNED]

    async def facts(self, outage: Outage) -> OutageFacts:
        return (await OutageRepository(self.session).facts([outage]))[0]

    async def of_identity_on(self, outage_id: int, identity_id: int) -> OutageReport | None:
        return await self.session.scalar(
            select(OutageReport)
            .where(OutageReport.outage_id == outage_id, OutageReport.identity_id == identity_id)
            .limit(1)
        )

    async def reporters_on(self, outage_id: int) -> int:
        """How many customers reported the outage (an identity counts once; a report of nobody's counts)."""
        return int(await self.session.scalar(select(_reporters()).where(OutageReport.outage_id == outage_id)) or 0)

    async def lock_feeder(self, feeder_code: str) -> None:
        """Hold the feeder's row until the transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
        await self.session.execute(select(Feeder.code).where(Feeder.code == feeder_code).with_for_update())

    async def on_feeder_since(
        self, feeder_code: str, since: datetime, after: datetime | None = None
    ) -> tuple[int, datetime | None]:
        """Reporters of "no power" outside any known outage on the feeder since `since` (and strictly after
        `after`, when given), and the first report's time."""
        where = [
            OutageReport.feeder_code == feeder_code,
            OutageReport.outage_id.is_(None),
            OutageReport.created_at >= since,
        ]
        if after is not None:
            where.append(OutageReport.created_at > after)
        row = (await self.session.execute(select(_reporters(), func.min(OutageReport.created_at)).where(*where))).one()
        return int(row[0] or 0), row[1]

    async def last_closed_at(self, feeder_code: str) -> datetime | None:
        """When staff closed the feeder's latest closed alert (None: never)."""
        return await self.session.scalar(
            select(func.max(FeederAlert.closed_at)).where(FeederAlert.feeder_code == feeder_code)
        )

    async def open_alert(self, feeder_code: str) -> FeederAlert | None:
        return await self.session.scalar(
            select(FeederAlert)
            .where(FeederAlert.feeder_code == feeder_code, FeederAlert.closed_at.is_(None))
            .order_by(FeederAlert.id.desc())
            .limit(1)
        )


def _reporters() -> ColumnElement[int]:
    """count(distinct reporter): the identity, or the report itself when it has none."""
    return func.count(distinct(func.coalesce(OutageReport.identity_id, -OutageReport.id)))


# --------------------------------------------------------------------------------------------- service


class OutageReports:
    """Counting "no power here" and flagging clusters. Built once per process (clock, thresholds)."""

    def __init__(
        self, clock: Clock, *, cluster_reports: int = 3, cluster_window: timedelta = timedelta(minutes=30)
    ) -> None:
        if cluster_reports < 1:
            raise ValueError("cluster_reports must be at least 1")
        self.clock = clock
        self.cluster_reports = cluster_reports
        self.cluster_window = cluster_window

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> OutageReports:
        return cls(
            clock,
            cluster_reports=settings.fault_cluster_reports,
            cluster_window=timedelta(minutes=settings.fault_cluster_minutes),
        )

    async def known_outage(self, session: AsyncSession, account: UtilityAccount) -> Outage | None:
        """The current fault outage covering the account (the one that started first), if any."""
        outages = await OutageReportRepository(session).current_faults(self.clock.now(), account)
        return min(outages, key=lambda o: (o.starts_at, o.id)) if outages else None

    async def count_on_outage(
        self,
        session: AsyncSession,
        outage: Outage,
        identity: Identity,
        account: UtilityAccount,
        ticket: FaultTicket | None = None,
    ) -> CountedReport:
        """The customer's report counted on the outage, once per identity (a second one changes nothing)."""
        repo = OutageReportRepository(session)
        new = await repo.of_identity_on(outage.id, identity.id) is None
        if new:
            repo.add(
                OutageReport(
                    outage_id=outage.id,
                    feeder_code=account.feeder_code,
                    account_id=account.id,
                    identity_id=identity.id,
                    ticket_id=ticket.id if ticket is not None else None,
                    created_at=self.clock.now(),
                )
            )
            await session.flush()
        return CountedReport(await repo.facts(outage), await repo.reporters_on(outage.id), new)

    async def on_feeder(
        self, session: AsyncSession, ticket: FaultTicket, identity: Identity, account: UtilityAccount
    ) -> FeederAlert | None:
        """A "no power" ticket outside any known outage, kept by the account's feeder; the FeederAlert it
        creates when it completes a cluster (None otherwise, or when one is open already: its count follows)."""
        repo = OutageReportRepository(session)
        now = self.clock.now()
        feeder = account.feeder_code
        await repo.lock_feeder(feeder)
        repo.add(
            OutageReport(
                outage_id=None,
                feeder_code=feeder,
                account_id=account.id,
                identity_id=identity.id,
                ticket_id=ticket.id,
                created_at=now,
            )
        )
        await session.flush()
        alert = await repo.open_alert(feeder)
        if alert is not None:
            alert.reports, _ = await repo.on_feeder_since(feeder, alert.first_report_at)
            await session.flush()
            return None
        # the reports up to when staff closed the feeder's last alert were looked at: they do not count again
        closed = await repo.last_closed_at(feeder)
        reporters, first = await repo.on_feeder_since(feeder, now - self.cluster_window, after=closed)
        if reporters < self.cluster_reports or first is None:
            return None
        created = FeederAlert(feeder_code=feeder, reports=reporters, first_report_at=first, created_at=now)
        session.add(created)
        await session.flush()
        log.warning(
            "probable fault on feeder %s: %d customers reported no power since %s (feeder alert %s)",
            feeder,
            reporters,
            first.isoformat(),
            created.id,
        )
        return created
