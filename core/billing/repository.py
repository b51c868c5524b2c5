"""Bills and their lines, read for the customer's answers. Inside the caller's session; never commits."""

from __future__ import annotations

from sqlalchemy import func, or_, select
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

    async def latest_and_unpaid(self, account_id: int, limit: int) -> tuple[list[Bill], list[Bill]]:
        """latest(limit) and unpaid() in one query (a bill question in the chat asks both): the account's bills
        among its `limit` newest or not paid yet, with their lines."""
        oldest_of_newest = (  # the limit-th newest period; '' when the account has fewer bills (all are newest)
            select(Bill.period)
            .where(Bill.account_id == account_id)
            .order_by(Bill.period.desc())
            .offset(limit - 1)
            .limit(1)
            .scalar_subquery()
        )
        rows = await self.session.scalars(
            select(Bill)
            .where(
                Bill.account_id == account_id,
                or_(Bill.paid_at.is_(None), Bill.period >= func.coalesce(oldest_of_newest, "")),
            )
            .options(joinedload(Bill.lines))
            .order_by(Bill.period)
        )
        bills = list(rows.unique())
        latest = sorted(bills, key=lambda bill: bill.period, reverse=True)[:limit]
        return latest, [bill for bill in bills if bill.paid_at is None]

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
