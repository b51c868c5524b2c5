"""Fault tickets: what the customer reported, where, and whether it is a hazard (then it is urgent); their
status as staff move it (received, crew assigned, on site, fixed, closed), each change told to the customer;
the photos and locations sent with them (core.faults.attachments); "no power here" counted on a known fault
outage instead of a ticket each, or kept by feeder to flag a probable fault (core.faults.reports)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.repository import AccountRepository
from core.errors import InvalidInput, NotFound
from core.faults.attachments import (
    ATTACH_WINDOW,
    MAX_PER_TICKET,
    Attachment,
    AttachmentView,
    PhotoContent,
    TicketAttachmentRepository,
    row_of,
)
from core.faults.reports import CountedReport, OutageReports
from core.faults.repository import FaultTicketRepository
from core.models import FaultTicket, Identity, StaffUser, UtilityAccount
from core.models.enums import AttachmentKind, TicketStatus
from core.staff.audit import AuditAction, AuditService

# No 0/O, 1/I: a reference is read out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class FaultReport:
    location: str
    description: str
    hazard: bool
    account_id: int | None = None
    power_loss: bool = False  # "no power here": kept by feeder (or counted on the known outage) as well


def new_reference(clock: Clock, tz: ZoneInfo) -> str:
    """F + the local date + 4 random characters: F261123-7K3Q."""
    day = clock.now().astimezone(tz).strftime("%y%m%d")
    return f"F{day}-{''.join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))}"


class FaultService:
    """Fault tickets from the chat. Built once per process (clock, timezone, the audit log, the counting of
    "no power" reports); a session per call."""

    def __init__(
        self, clock: Clock, tz: ZoneInfo, *, audit: AuditService | None = None, reports: OutageReports | None = None
    ) -> None:
        self.clock = clock
        self.tz = tz
        self.audit = audit or AuditService(clock)
        self.reports = reports or OutageReports(clock)

    async def count_no_power(
        self, session: AsyncSession, identity: Identity, account: UtilityAccount
    ) -> CountedReport | None:
        """ "No power" at an account a current fault outage covers: counted on it (once per identity), no ticket.
        None: no known outage covers the account (a ticket opens as usual)."""
        outage = await self.reports.known_outage(session, account)
        if outage is None:
            return None
        return await self.reports.count_on_outage(session, outage, identity, account)

    async def open_ticket(
        self, session: AsyncSession, identity: Identity, report: FaultReport, attachments: Sequence[Attachment] = ()
    ) -> FaultTicket:
        """A new fault ticket; hazards are urgent; the photos and locations sent during the report go onto it.
        A "no power" report of a known account is also counted: on the fault outage covering the account (the
        ticket is then part of it), else by the account's feeder (which may flag a probable fault). Flushed (it
        has an id), not committed."""
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
        if attachments:
            await self.attach(session, ticket, attachments)
        account = await session.get(UtilityAccount, report.account_id) if report.account_id is not None else None
        if report.power_loss and account is not None:
            outage = await self.reports.known_outage(session, account)
            if outage is not None:
                ticket.outage_id = outage.id
                await self.reports.count_on_outage(session, outage, identity, account, ticket)
            else:
                await self.reports.on_feeder(session, ticket, identity, account)
        return ticket

    async def tickets_of(self, session: AsyncSession, identity: Identity, limit: int = 3) -> list[FaultTicket]:
        """The identity's latest tickets, open ones first (what "报修进度" answers)."""
        return await FaultTicketRepository(session).of_identity(identity.id, limit)

    async def recent_ticket(self, session: AsyncSession, identity: Identity) -> FaultTicket | None:
        """The identity's latest ticket when it was opened within ATTACH_WINDOW (what a photo sent right after
        a report goes onto), else None."""
        ticket = await FaultTicketRepository(session).latest_of_identity(identity.id)
        if ticket is None or ticket.created_at < self.clock.now() - ATTACH_WINDOW:
            return None
        return ticket

    async def attach(self, session: AsyncSession, ticket: FaultTicket, attachments: Sequence[Attachment]) -> int:
        """Put photos and locations onto the ticket, up to MAX_PER_TICKET in all; how many went on."""
        repo = TicketAttachmentRepository(session)
        room = max(0, MAX_PER_TICKET - await repo.count_of(ticket.id))
        now = self.clock.now()
        for attachment in attachments[:room]:
            repo.add(row_of(ticket.id, attachment, now))
        await session.flush()
        return min(room, len(attachments))

    async def reopen(self, session: AsyncSession, identity: Identity, ticket_id: int) -> FaultTicket | None:
        """ "Still not fixed" on a closed ticket: back to received for the staff to pick up (None: not theirs).
        Audited like a staff change of status, with no staff actor: the customer did it."""
        ticket = await FaultTicketRepository(session).get(ticket_id)
        if ticket is None or ticket.identity_id != identity.id:
            return None
        if ticket.status in (TicketStatus.FIXED, TicketStatus.CLOSED):
            previous = ticket.status
            ticket.status = TicketStatus.RECEIVED
            ticket.updated_at = self.clock.now()
            detail = {
                "from": previous,
                "to": ticket.status,
                "note": "",
                "by": "customer",
                "identity_id": identity.id,
                "channel": identity.channel,
            }
            self.audit.record(session, None, AuditAction.TICKET_STATUS, "fault_ticket", ticket.id, detail)
            await session.flush()
        return ticket


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    reference: str
    account_number: str | None
    status: str
    outage_id: int | None
    hazard: bool
    urgent: bool
    location: str
    description: str
    created_at: datetime
    updated_at: datetime | None


# Tells a ticket's customer of its new status (core.services wires the messenger and the templates).
TicketNotifier = Callable[[AsyncSession, FaultTicket], Awaitable[None]]


class FaultTickets:
    """Fault tickets as staff handle them: the list, and their status. Built once; a session per call."""

    def __init__(self, clock: Clock, audit: AuditService, notify: TicketNotifier | None = None) -> None:
        self.clock = clock
        self.audit = audit
        self.notify = notify

    async def page(
        self, session: AsyncSession, *, status: str | None, owner_id: int | None, limit: int = 100, offset: int = 0
    ) -> tuple[list[TicketView], int]:
        """Urgent first, then newest; `owner_id`: only those of the key accounts that account manager owns."""
        rows, total = await FaultTicketRepository(session).page(
            status=status, manager_id=owner_id, limit=limit, offset=offset
        )
        return [_view(ticket, number) for ticket, number in rows], total

    async def set_status(
        self,
        session: AsyncSession,
        ticket_id: int,
        status: TicketStatus,
        note: str,
        *,
        actor: StaffUser,
        owner_id: int | None,
        client: str | None = None,
    ) -> TicketView:
        """Move a ticket to `status` (any order: a crew may be sent back), with a note; audited."""
        repo = FaultTicketRepository(session)
        ticket = await repo.get(ticket_id)
        if ticket is None or (owner_id is not None and await repo.manager_of(ticket) != owner_id):
            raise NotFound(f"no ticket {ticket_id}")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"a note has at most {MAX_NOTE} characters", field="note")
        previous = ticket.status
        ticket.status = TicketStatus(status)
        ticket.updated_at = self.clock.now()
        detail = {"from": previous, "to": ticket.status, "note": note.strip()}
        self.audit.record(session, actor, AuditAction.TICKET_STATUS, "fault_ticket", ticket.id, detail, client)
        await session.flush()
        if self.notify is not None and previous != ticket.status:
            await self.notify(session, ticket)  # the customer hears of every change, in their channel
        number = await AccountRepository(session).number_of(ticket.account_id) if ticket.account_id else None
        return _view(ticket, number)

    async def attachments(self, session: AsyncSession, ticket_ids: list[int]) -> dict[int, list[AttachmentView]]:
        """The photos and locations of the tickets listed (ids from `page`, which already applied the access)."""
        return await TicketAttachmentRepository(session).views_of(ticket_ids)

    async def photo(
        self, session: AsyncSession, ticket_id: int, attachment_id: int, *, owner_id: int | None
    ) -> PhotoContent:
        """A ticket's photo, to show; `owner_id`: only of the key accounts that account manager owns."""
        ticket = await FaultTicketRepository(session).get(ticket_id)
        if ticket is None or (
            owner_id is not None and await FaultTicketRepository(session).manager_of(ticket) != owner_id
        ):
            raise NotFound(f"no ticket {ticket_id}")
        found = await TicketAttachmentRepository(session).of_ticket(ticket_id, attachment_id)
        if found is None or found.kind != AttachmentKind.PHOTO or found.content is None or not found.content_type:
            raise NotFound(f"no photo {attachment_id} on ticket {ticket_id}")
        return PhotoContent(found.content, found.content_type)


MAX_NOTE = 2000


def _view(ticket: FaultTicket, account_number: str | None) -> TicketView:
    return TicketView(
        id=ticket.id,
        reference=ticket.reference,
        account_number=account_number,
        status=ticket.status,
        outage_id=ticket.outage_id,
        hazard=ticket.hazard,
        urgent=ticket.urgent,
        location=ticket.location,
        description=ticket.description,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )
