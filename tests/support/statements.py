"""Shared by the bill statement tests (service, chat, end to end): a bills file for one account's next month,
and the outbox rows of statements."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import NoticeDelivery
from core.models.enums import BillNotice, SubjectKind


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def bills_csv(account_number: str, period: str, *, peak: int = 820_000, valley: int = 360_000) -> bytes:
    """A bills file of one row: the account's bill for `period`, due on the 25th of the month after."""
    due = date.fromisoformat(f"{next_period(period)}-25")
    header = "account_number,period,kwh_peak,kwh_valley,due_date"
    return f"{header}\n{account_number},{period},{peak},{valley},{due.isoformat()}\n".encode()


async def statement_rows(
    sessionmaker: async_sessionmaker[AsyncSession], purpose: BillNotice = BillNotice.STATEMENT
) -> list[NoticeDelivery]:
    """Every statement (or correction) in the outbox, in the order they were queued."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(NoticeDelivery)
            .where(NoticeDelivery.subject_kind == SubjectKind.BILL, NoticeDelivery.stage == purpose)
            .order_by(NoticeDelivery.id)
        )
        return list(rows)
