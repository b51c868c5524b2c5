"""The billing reads the chat answers from: bills, what is due, why a bill is what it is, the tariff.

Built once per process (it holds no state); the caller's session is passed to every call; never commits.
The figures are the stored ones (core.billing.answers explains them without re-pricing anything).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.answers import AmountDue, Explanation, TariffFacts, amount_due, explain, tariff_facts
from core.billing.calc import TariffTerms
from core.billing.repository import BillRepository
from core.conversations.memo import memo_of
from core.customers.repository import AccountRepository
from core.models import Bill, UtilityAccount

UNPAID = "unpaid_bills"  # the turn memo's entry (core.conversations.memo): the account's unpaid bills


class BillingService:
    async def latest(self, session: AsyncSession, account: UtilityAccount, limit: int) -> list[Bill]:
        """The account's newest bills (at most `limit`), newest first, with their lines. During a chat turn the
        unpaid bills come with them (one query) and are kept in the turn's memo for amount_due."""
        memo = memo_of(session)
        if memo is None:
            return await BillRepository(session).latest(account.id, max(limit, 1))
        latest, memo[UNPAID, account.id] = await BillRepository(session).latest_and_unpaid(account.id, max(limit, 1))
        return latest

    async def in_months(self, session: AsyncSession, account: UtilityAccount, first: str, last: str) -> list[Bill]:
        """The bills of the months first..last (YYYY-MM, inclusive), oldest first."""
        return await BillRepository(session).in_periods(account.id, first, last)

    async def amount_due(self, session: AsyncSession, account: UtilityAccount, bill: Bill, today: date) -> AmountDue:
        """The bill asked about, every bill still unpaid, and which of them are overdue on `today`."""
        memo = memo_of(session)
        unpaid = memo.get((UNPAID, account.id)) if memo is not None else None
        if unpaid is None:
            unpaid = await BillRepository(session).unpaid(account.id)
        return amount_due(bill, unpaid, today)

    async def explain(self, session: AsyncSession, account: UtilityAccount, bill: Bill) -> Explanation:
        """The bill line by line under the account's tariff, set against the bill before it."""
        previous = await BillRepository(session).before(account.id, bill.period)
        tariff = await AccountRepository(session).tariff(account)
        return explain(bill, previous, TariffTerms.from_tariff(tariff))

    async def tariff(self, session: AsyncSession, account: UtilityAccount) -> TariffFacts:
        return tariff_facts(await AccountRepository(session).tariff(account))

    async def public_tariff(self, session: AsyncSession, code: str) -> TariffFacts | None:
        """The published tariff with this code (the residential one, quoted before binding); None if absent."""
        tariff = await AccountRepository(session).tariff_by_code(code)
        return tariff_facts(tariff) if tariff is not None else None
