"""Fault tickets: what the customer reported, where, and whether it is a hazard (then it is urgent)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.faults.repository import FaultTicketRepository
from core.models import FaultTicket, Identity
from core.models.enums import TicketStatus

# No 0/O, 1/I: a reference is read out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class FaultReport:
    location: str
    description: str
    hazard: bool
    account_id: int | None = None


def new_reference(clock: Clock, tz: ZoneInfo) -> str:
    """F + the local date + 4 random characters: F261123-7K3Q."""
    day = clock.now().astimezone(tz).strftime("%y%m%d")
    return f"F{day}-{''.join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))}"


class FaultService:
    """Fault tickets from the chat. Built once per process (clock and timezone); a session per call."""

    def __init__(self, clock: Clock, tz: ZoneInfo) -> None:
        self.clock = clock
        self.tz = tz

    async def open_ticket(self, session: AsyncSession, identity: Identity, report: FaultReport) -> FaultTicket:
        """A new fault ticket; hazards are urgent. Flushed (it has an id), not committed."""
        repo = FaultTicketRepository(session)
        reference = new_reference(self.clock, self.tz)
        while await repo.by_reference(reference) is not None:
            reference = new_reference(self.clock, self.tz)
        ticket = repo.add(
            FaultTicket(
                reference=reference,
                identity_id=identity.id,
                account_id=report.account_id,
                location=report.location[:300],
                description=report.description,
                hazard=report.hazard,
                urgent=report.hazard,
                status=TicketStatus.RECEIVED,
                created_at=self.clock.now(),
            )
        )
        await session.flush()
        return ticket
