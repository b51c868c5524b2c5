"""The SQL of fault tickets: by reference, the staff's page (an account manager's own key accounts), a
customer's latest ones. Works inside the caller's session; never commits."""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, func, select

from core.db.repository import RepositoryBase
from core.models import FaultTicket, KeyAccountProfile, UtilityAccount
from core.models.enums import TicketStatus


class FaultTicketRepository(RepositoryBase[FaultTicket]):
    model = FaultTicket

    async def by_reference(self, reference: str) -> FaultTicket | None:
        return await self.session.scalar(select(FaultTicket).where(FaultTicket.reference == reference))

    async def page(
        self, *, status: str | None, manager_id: int | None, limit: int, offset: int
    ) -> tuple[list[tuple[FaultTicket, str | None]], int]:
        """Tickets newest first (urgent ones first), with their account number; only those of the key accounts
        `manager_id` manages, when given. And how many match."""
        where: list[ColumnElement[bool]] = []
        if status:
            where.append(FaultTicket.status == status)
        if manager_id is not None:
            where.append(KeyAccountProfile.account_manager_id == manager_id)
        base = (
            select(FaultTicket, UtilityAccount.account_number)
            .outerjoin(UtilityAccount, UtilityAccount.id == FaultTicket.account_id)
            .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == FaultTicket.account_id)
            .where(*where)
        )
        total = int(await self.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        rows = await self.session.execute(
            base.order_by(FaultTicket.urgent.desc(), FaultTicket.created_at.desc(), FaultTicket.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(ticket, number) for ticket, number in rows], total

    async def manager_of(self, ticket: FaultTicket) -> int | None:
        if ticket.account_id is None:
            return None
        return await self.session.scalar(
            select(KeyAccountProfile.account_manager_id).where(KeyAccountProfile.account_id == ticket.account_id)
        )

    async def latest_of_identity(self, identity_id: int) -> FaultTicket | None:
        """The identity's newest ticket, whatever its status."""
        return await self.session.scalar(
            select(FaultTicket)
            .where(FaultTicket.identity_id == identity_id)
            .order_by(FaultTicket.created_at.desc(), FaultTicket.id.desc())
            .limit(1)
        )

    async def of_identity(self, identity_id: int, limit: int) -> list[FaultTicket]:
        """An identity's latest tickets, those still open first (closed last), newest first within each."""
        closed = case((FaultTicket.status == TicketStatus.CLOSED, 1), else_=0)
        rows = await self.session.scalars(
            select(FaultTicket)
            .where(FaultTicket.identity_id == identity_id)
            .order_by(closed, FaultTicket.created_at.desc(), FaultTicket.id.desc())
            .limit(limit)
        )
        return list(rows)
