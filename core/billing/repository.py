"""Bills and their lines, read for the customer's answers. Inside the caller's session; never commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from core.db.repository import RepositoryBase
from core.models import Bill


class BillRepository(RepositoryBase[Bill]):
    model = Bill

    async def latest(self, account_id: int, limit: int) -> list[Bill]:
        """The account's newest bills, newest first, with their lines (one query: the chat asks this every bill
        question)."""
        rows = await self.session.scalars(
            select(Bill)
            .where(Bill.account_id == account_id)
            .options(joinedload(Bill.lines))
            .order_by(Bill.period.desc())
            .limit(limit)
        )
        return list(rows.unique())

    async def in_periods(self, account_id: int, first: str, last: str) -> list[Bill]:
        """Bills for the months first..last (YYYY-MM, inclusive), oldest first, with their lines (one query)."""
        rows = await self.session.scalars(
            select(Bill)
            .where(Bill.account_id == account_id, Bill.period >= first, Bill.period <= last)
            .options(joinedload(Bill.lines))
            .order_by(Bill.period)
        )
        return list(rows.unique())

    async def before(self, account_id: int, period: str) -> Bill | None:
        """The bill just before `period`, with its lines."""
        return await self.session.scalar(
            select(Bill)
            .where(Bill.account_id == account_id, Bill.period < period)
            .options(selectinload(Bill.lines))
            .order_by(Bill.period.desc())
            .limit(1)
        )

    async def unpaid(self, account_id: int) -> list[Bill]:
        """Bills not paid yet, oldest first, with their lines (one query)."""
        rows = await self.session.scalars(
            select(Bill)
            .where(Bill.account_id == account_id, Bill.paid_at.is_(None))
            .options(joinedload(Bill.lines))
            .order_by(Bill.period)
        )
        return list(rows.unique())
