"""The reads behind bill statements: which bills are key accounts', and each statement's bill with its account.
Inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import Bill, Customer, KeyAccountProfile, NoticeDelivery, UtilityAccount
from core.models.enums import BillNotice, Segment, SubjectKind

CHUNK = 1000  # (account id, period) pairs per query


@dataclass(frozen=True, slots=True)
class StatementBill:
    """A bill a statement is about, with its account and the customer's name."""

    bill: Bill
    account: UtilityAccount
    customer_name: str
    segment: Segment


class StatementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def key_account_bills(self, refs: Collection[tuple[int, str]]) -> dict[int, int]:
        """Of the (account id, period) bills, those of key accounts: bill id → account id. (A bills file may hold
        many thousands: they are asked about a chunk at a time, within any database's limit of parameters.)"""
        ordered = sorted(set(refs))
        found: dict[int, int] = {}
        for start in range(0, len(ordered), CHUNK):
            rows = await self.session.execute(
                select(Bill.id, Bill.account_id)
                .join(KeyAccountProfile, KeyAccountProfile.account_id == Bill.account_id)
                .where(tuple_(Bill.account_id, Bill.period).in_(ordered[start : start + CHUNK]))
            )
            found.update({bill_id: account_id for bill_id, account_id in rows})
        return found

    async def latest_key_account_periods(self) -> list[tuple[int, str]]:
        """Every key account's latest bill, as (account id, period)."""
        rows = await self.session.execute(
            select(Bill.account_id, func.max(Bill.period))
            .join(KeyAccountProfile, KeyAccountProfile.account_id == Bill.account_id)
            .group_by(Bill.account_id)
            .order_by(Bill.account_id)
        )
        return [(account_id, period) for account_id, period in rows]

    async def bills(self, bill_ids: Collection[int]) -> dict[int, StatementBill]:
        """The bills (with their lines), their accounts and customers' names, by bill id."""
        if not bill_ids:
            return {}
        rows = await self.session.execute(
            select(Bill, UtilityAccount, Customer.name, Customer.segment)
            .join(UtilityAccount, UtilityAccount.id == Bill.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .where(Bill.id.in_(sorted(set(bill_ids))))
            .options(selectinload(Bill.lines))
        )
        return {bill.id: StatementBill(bill, account, name, Segment(segment)) for bill, account, name, segment in rows}

    async def statements_queued(self, bill_ids: Collection[int]) -> set[tuple[int, str, int]]:
        """The statements already in the outbox for these bills: (bill id, contact key, revision)."""
        if not bill_ids:
            return set()
        rows = await self.session.execute(
            select(NoticeDelivery.subject_id, NoticeDelivery.contact_key, NoticeDelivery.revision).where(
                NoticeDelivery.subject_kind == SubjectKind.BILL,
                NoticeDelivery.stage == BillNotice.STATEMENT,
                NoticeDelivery.subject_id.in_(sorted(set(bill_ids))),
            )
        )
        return {(bill_id, key, revision) for bill_id, key, revision in rows}
