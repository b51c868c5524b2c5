"""BillingService on the demo data: the reads the chat's billing answers come from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.service import BillingService
from core.clock import FrozenClock
from core.conversations.memo import turn_memo
from core.models import Bill, UtilityAccount
from tests.support.dialogue import amount_due, bills_of, demo_account, load_demo_data

Maker = async_sessionmaker[AsyncSession]


@contextmanager
def statements_of(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs while the block lasts."""
    engine = session.get_bind()
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def test_bills_due_explanation_and_tariff(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)
    demo = await demo_account(sessionmaker)
    stored = await bills_of(sessionmaker, demo.id)  # newest first
    billing = BillingService()
    async with sessionmaker() as session:
        account = await session.get(UtilityAccount, demo.id)
        assert account is not None

        latest = await billing.latest(session, account, 3)
        assert [b.period for b in latest] == [b.period for b in stored[:3]]
        assert [b.period for b in await billing.latest(session, account, 0)] == [stored[0].period]  # at least one

        first, last = stored[2].period, stored[0].period
        months = await billing.in_months(session, account, first, last)
        assert [b.period for b in months] == [b.period for b in reversed(stored[:3])]  # oldest first

        due = await billing.amount_due(session, account, latest[0], date(2026, 11, 23))
        assert due.latest.amount == stored[0].amount and due.total_due == amount_due(stored)

        explanation = await billing.explain(session, account, latest[0])
        assert explanation.bill.amount == stored[0].amount
        assert explanation.previous is not None and explanation.previous.period == stored[1].period
        assert sum((line.amount for line in explanation.bill.lines), start=Decimal(0)) == stored[0].amount

        tariff = await billing.tariff(session, account)
        assert tariff.peak_starts == "08:00" and tariff.valley_starts == "22:00"


async def test_a_turn_reads_the_newest_and_the_unpaid_bills_at_once(sessionmaker: Maker, clock: FrozenClock) -> None:
    """In a chat turn (its memo open) latest() brings the unpaid bills along and amount_due() reads none: the same
    answers as two queries, for fewer bills than asked, as many, more, and an unpaid bill older than the newest."""
    await load_demo_data(sessionmaker, clock)
    demo = await demo_account(sessionmaker)
    stored = await bills_of(sessionmaker, demo.id)  # newest first
    billing = BillingService()
    today = date(2026, 11, 23)
    async with sessionmaker() as session:
        account = await session.get(UtilityAccount, demo.id)
        assert account is not None
        oldest = await session.get(Bill, stored[-1].id)
        assert oldest is not None
        oldest.paid_at = None  # unpaid, and older than the newest bills asked for below
        await session.flush()
        for limit in (1, 2, len(stored), len(stored) + 5):
            expected = await billing.latest(session, account, limit)
            expected_due = await billing.amount_due(session, account, expected[0], today)
            with statements_of(session) as statements, turn_memo(session):
                latest = await billing.latest(session, account, limit)
                due = await billing.amount_due(session, account, latest[0], today)
            assert len(statements) == 1, statements
            assert [b.period for b in latest] == [b.period for b in expected]
            assert [[line.id for line in b.lines] for b in latest] == [[line.id for line in b.lines] for b in expected]
            assert due == expected_due
            assert stored[-1].period in [b.period for b in due.unpaid]
        await session.rollback()
