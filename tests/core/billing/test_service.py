"""BillingService on the demo data: the reads the chat's billing answers come from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.service import BillingService
from core.clock import FrozenClock
from core.models import UtilityAccount
from tests.support.dialogue import amount_due, bills_of, demo_account, load_demo_data

Maker = async_sessionmaker[AsyncSession]


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
