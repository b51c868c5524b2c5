"""The reads behind bill statements: which bills are key accounts', and each statement's bill with its account.
Inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import Bill, Customer, KeyAccountProfile, NoticeDelivery, UtilityAccount
from core.models.enums import BillNotice, DeliveryStatus, Segment, SubjectKind

CHUNK = 1000  # (account id, period) pairs per query


@dataclass(frozen=True, slots=True)
class StatementBill:
    """A bill a statement is about, with its account and the customer's name."""

    bill: Bill
    account: UtilityAccount
    customer_name: str
    segment: Segment


@dataclass(frozen=True, slots=True)
class Mailed:
    """A bill's statement to one person so far: the rounds queued (statement revisions; the latest correction),
    whether one went out, and whether one still waits (it will carry the bill's figures as they are then)."""

    statements: frozenset[int] = frozenset()
    corrections: int = 0
    sent: bool = False
    waiting: bool = False

    def add(self, stage: str, revision: int, status: str) -> Mailed:
        return Mailed(
            self.statements | {revision} if stage == BillNotice.STATEMENT else self.statements,
            max(self.corrections, revision) if stage == BillNotice.CORRECTION else self.corrections,
            self.sent or status == DeliveryStatus.SENT,
            self.waiting or status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING),
        )


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

    async def mailed(self, bill_ids: Collection[int]) -> dict[tuple[int, str], Mailed]:
        """What the outbox holds of these bills' statements and corrections, by (bill id, contact key)."""
        found: dict[tuple[int, str], Mailed] = {}
        ordered = sorted(set(bill_ids))
        for start in range(0, len(ordered), CHUNK):
            rows = await self.session.execute(
                select(
                    NoticeDelivery.subject_id,
                    NoticeDelivery.contact_key,
                    NoticeDelivery.stage,
                    NoticeDelivery.revision,
                    NoticeDelivery.status,
                ).where(
                    NoticeDelivery.subject_kind == SubjectKind.BILL,
                    NoticeDelivery.stage.in_((BillNotice.STATEMENT, BillNotice.CORRECTION)),
                    NoticeDelivery.subject_id.in_(ordered[start : start + CHUNK]),
                )
            )
            for bill_id, key, stage, revision, status in rows:
                found[(bill_id, key)] = found.get((bill_id, key), Mailed()).add(stage, revision, status)
        return found
