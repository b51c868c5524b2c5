"""After a fault outage is restored: the "still no power at my place" button under the restoration notice
opens a fault ticket tied to the outage and to the account the notice was about: once per person and
outage (pressing it again answers with the same ticket). Built once per process; a session per call,
flushed, never committed."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.faults.service import FaultReport, FaultService
from core.models import FaultTicket, Identity, UtilityAccount
from core.models.enums import OutageKind, Stage, Tier
from core.notices.confirmation_repository import ConfirmationRepository
from core.notices.confirmations import owned
from core.notices.repository import OutboxRepository
from core.outages.repository import OutageRepository


@dataclass(frozen=True, slots=True)
class NoPowerTicket:
    ticket: FaultTicket
    outage_id: int
    already: bool  # the button was pressed before: the ticket it opened then


class StillNoPower:
    def __init__(self, clock: Clock, tz: ZoneInfo) -> None:
        self.faults = FaultService(clock, tz)

    async def report(
        self, session: AsyncSession, identity: Identity, delivery_id: int, description: str
    ) -> NoPowerTicket | None:
        """The ticket for a press of the button of restoration notice `delivery_id`; None when that is not a
        fault's restoration notice sent to this person."""
        delivery = await OutboxRepository(session).get(delivery_id)
        if (
            delivery is None
            or delivery.tier == Tier.STAFF
            or delivery.stage != Stage.RESTORED
            or not owned(delivery, identity.id, identity.telegram_chat_id)
        ):
            return None
        outage = await OutageRepository(session).get(delivery.subject_id)
        if outage is None or outage.kind != OutageKind.UNPLANNED:
            return None
        existing = await ConfirmationRepository(session).ticket_after_restoration(
            identity.id, outage.id, delivery.created_at
        )
        if existing is not None:
            return NoPowerTicket(existing, outage.id, already=True)
        account = await session.get(UtilityAccount, delivery.account_id) if delivery.account_id else None
        report = FaultReport(
            location=account.address if account else "",
            description=description,
            hazard=False,
            account_id=account.id if account else None,
        )
        ticket = await self.faults.open_ticket(session, identity, report)
        ticket.outage_id = outage.id
        await session.flush()
        return NoPowerTicket(ticket, outage.id, already=False)
