"""What only fault outages (unplanned) have, as OutageService (core.outages.service) runs them: the rule for
their times (a fault has started; its estimate lies ahead), each estimate kept with who set it and when,
power back on some of their feeders while the outage goes on for the rest (a restoration notice to those
feeders' people), and fault tickets linked to them. Every action is written to the audit log.

Built by OutageService with its own clock, planner and audit (FaultOutages(clock, planner, audit)); each
call takes the caller's session and never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import InvalidInput
from core.faults.repository import FaultTicketRepository
from core.models import Outage, OutageEstimate
from core.notices.planning import NoticePlanner
from core.outages.bookkeeping import rescope, stage_list
from core.outages.facts import Scope
from core.staff.audit import AuditAction, AuditService

FUTURE_START_GRACE = timedelta(minutes=5)  # a fault has started: its start may be only this far ahead (clocks)


def check_fault_times(starts_at: datetime, estimate: datetime | None, now: datetime) -> datetime:
    """A fault's start (it has started) and its estimate (ahead of the start and of now); the estimate back."""
    if estimate is None:
        raise InvalidInput(
            "say when power is expected back (estimated_restoration_at)", field="estimated_restoration_at"
        )
    for name, value in (("starts_at", starts_at), ("estimated_restoration_at", estimate)):
        if value.tzinfo is None:
            raise InvalidInput("a time needs its UTC offset (ISO 8601, e.g. 2026-12-10T08:00:00+08:00)", field=name)
    if starts_at > now + FUTURE_START_GRACE:
        raise InvalidInput("a fault outage has already started: its start cannot be ahead", field="starts_at")
    if estimate <= starts_at:
        raise InvalidInput("the estimate must be after the start", field="estimated_restoration_at")
    if estimate <= now:
        raise InvalidInput(
            "the estimate has passed: give a time ahead, or restore the outage", field="estimated_restoration_at"
        )
    return estimate


def record_estimate(session: AsyncSession, outage: Outage, actor_id: int | None, at: datetime) -> None:
    """Keep the fault's current estimate (its end) in its history, with who set it and when."""
    session.add(
        OutageEstimate(
            outage_id=outage.id, estimated_restoration_at=outage.ends_at, changed_by_id=actor_id, changed_at=at
        )
    )


class FaultOutages:
    """What only a fault outage goes through after it is published: power back on some of its feeders, fault
    tickets linked to it. Built by OutageService, which loads the outage; never commits."""

    def __init__(self, clock: Clock, planner: NoticePlanner, audit: AuditService) -> None:
        self.clock = clock
        self.planner = planner
        self.audit = audit

    async def restore_part(
        self,
        session: AsyncSession,
        outage: Outage,
        scope: Scope,
        restored: tuple[str, ...],
        *,
        actor_id: int | None,
        client: str | None,
    ) -> Outage:
        """Power is back on the `restored` feeders of a published outage (`scope` its scope until now): they
        leave its scope, their people get the restoration notice, and the outage goes on for the rest."""
        now = self.clock.now()
        left = Scope.of(scope.area_codes, tuple(c for c in scope.feeder_codes if c not in restored), scope.account_ids)
        rescope(outage, scope, left)
        outage.updated_at = now
        await session.flush()
        stages = await self.planner.restore_part(session, outage, Scope.of((), restored, ()))
        detail = {"restored_feeders": list(restored), "stages": stage_list(stages)}
        self.audit.record(session, actor_id, AuditAction.OUTAGE_COMPLETE, "outage", outage.id, detail, client, at=now)
        return outage

    async def link_tickets(
        self,
        session: AsyncSession,
        outage: Outage,
        ticket_ids: tuple[int, ...],
        *,
        actor_id: int | None,
        client: str | None,
    ) -> list[int]:
        """Link the fault tickets to `outage`; refused when a ticket does not exist. Returns the ids linked."""
        repo = FaultTicketRepository(session)
        tickets = []
        for ticket_id in dict.fromkeys(ticket_ids):
            ticket = await repo.get(ticket_id)
            if ticket is None:
                raise InvalidInput(f"no ticket {ticket_id}", field="ticket_ids")
            tickets.append(ticket)
        for ticket in tickets:
            ticket.outage_id = outage.id
        await session.flush()
        linked = [t.id for t in tickets]
        self.audit.record(
            session,
            actor_id,
            AuditAction.OUTAGE_LINK_TICKETS,
            "outage",
            outage.id,
            {"tickets": linked},
            client,
            at=self.clock.now(),
        )
        return linked
