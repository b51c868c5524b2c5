from __future__ import annotations

from sqlalchemy import select

from core.db.repository import RepositoryBase
from core.models import FaultTicket


class FaultTicketRepository(RepositoryBase[FaultTicket]):
    model = FaultTicket

    async def by_reference(self, reference: str) -> FaultTicket | None:
        return await self.session.scalar(select(FaultTicket).where(FaultTicket.reference == reference))
