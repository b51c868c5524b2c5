"""The SQL of bill reminders (core.billing.reminders): the unpaid bills in a window with the opted-in people
bound to their accounts, the reminders that wait for a bill paid since, and the console's arrears list.
Inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, exists, func, select, update

from core.db.repository import RepositoryBase
from core.models import (
    Bill,
    Customer,
    Identity,
    IdentityAccount,
    KeyAccountProfile,
    NoticeDelivery,
    UtilityAccount,
)
from core.models.enums import BillNotice, DeliveryStatus, Language, Segment, SubjectKind
from core.notices.audiences import IdentityRow, reachable

REMINDERS = (BillNotice.DUE, BillNotice.ARREARS)
PAID = "bill paid"
OPTED_OUT = "reminders turned off"


@dataclass(frozen=True, slots=True)
class ReminderCandidate:
    """An unpaid bill and one opted-in person bound to its account."""

    bill_id: int
    due_date: date
    identity: IdentityRow


@dataclass(frozen=True, slots=True)
class ReminderBill:
    """What a reminder about a bill says of it."""

    id: int
    account_number: str
    customer_name: str
    period: str
    amount: Decimal
    due_date: date


@dataclass(frozen=True, slots=True)
class ArrearsRow:
    """An unpaid bill past its due date, as the console lists it."""

    bill_id: int
    account_number: str
    customer_name: str
    key_account: bool
    period: str
    amount: Decimal
    due_date: date
    last_reminder_at: datetime | None


def _is_reminder() -> ColumnElement[bool]:
    return and_(NoticeDelivery.subject_kind == SubjectKind.BILL, NoticeDelivery.stage.in_(list(REMINDERS)))


class ReminderRepository(RepositoryBase[Bill]):
    model = Bill

    async def candidates(self, first: date, last: date, purpose: BillNotice) -> list[ReminderCandidate]:
        """Unpaid bills due between first and last (inclusive), each with every opted-in, reachable identity
        bound to its account that has no `purpose` reminder of it yet."""
        told = exists().where(
            NoticeDelivery.subject_kind == SubjectKind.BILL,
            NoticeDelivery.subject_id == Bill.id,
            NoticeDelivery.stage == purpose,
            NoticeDelivery.identity_id == Identity.id,
        )
        rows = await self.session.execute(
            select(
                Bill.id,
                Bill.due_date,
                Bill.account_id,
                Customer.segment,
                Identity.id,
                Identity.telegram_chat_id,
                Identity.language,
                Identity.email,
            )
            .join(IdentityAccount, IdentityAccount.account_id == Bill.account_id)
            .join(Identity, Identity.id == IdentityAccount.identity_id)
            .join(UtilityAccount, UtilityAccount.id == Bill.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .where(
                Bill.paid_at.is_(None),
                Bill.due_date >= first,
                Bill.due_date <= last,
                Identity.bill_reminders.is_(True),
                reachable(),
                ~told,
            )
            .order_by(Bill.id, Identity.id)
        )
        return [
            ReminderCandidate(
                bill_id,
                due_date,
                IdentityRow(ident, account_id, Segment(segment), chat, Language(language), None if chat else email),
            )
            for bill_id, due_date, account_id, segment, ident, chat, language, email in rows
        ]

    async def cancel_stale(self) -> int:
        """Reminders not sent yet whose bill has been paid, or whose person turned reminders off: cancelled."""
        paid = select(Bill.id).where(Bill.paid_at.is_not(None))
        opted_out = select(Identity.id).where(Identity.bill_reminders.is_(False))
        waiting = and_(_is_reminder(), NoticeDelivery.status == DeliveryStatus.PENDING)
        cancelled = 0
        for reason, where in (
            (PAID, NoticeDelivery.subject_id.in_(paid)),
            (OPTED_OUT, NoticeDelivery.identity_id.in_(opted_out)),
        ):
            result = await self.session.execute(
                update(NoticeDelivery)
                .where(waiting, where)
                .values(status=DeliveryStatus.CANCELLED, last_error=reason, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            cancelled += int(getattr(result, "rowcount", 0) or 0)
        return cancelled

    async def bills(self, ids: Sequence[int]) -> dict[int, ReminderBill]:
        rows = await self.session.execute(
            select(Bill.id, UtilityAccount.account_number, Customer.name, Bill.period, Bill.amount, Bill.due_date)
            .join(UtilityAccount, UtilityAccount.id == Bill.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .where(Bill.id.in_(sorted(set(ids))))
        )
        return {row[0]: ReminderBill(*row) for row in rows}

    async def arrears(
        self, today: date, manager_id: int | None, limit: int, offset: int
    ) -> tuple[list[ArrearsRow], int]:
        """Unpaid bills past their due date, most overdue first, a page of them and how many in all; a
        manager's: their key accounts' only."""
        last_sent = (
            select(NoticeDelivery.subject_id, func.max(NoticeDelivery.sent_at).label("sent_at"))
            .where(_is_reminder(), NoticeDelivery.sent_at.is_not(None))
            .group_by(NoticeDelivery.subject_id)
            .subquery()
        )
        query = (
            select(
                Bill.id,
                UtilityAccount.account_number,
                Customer.name,
                KeyAccountProfile.account_id.is_not(None),
                Bill.period,
                Bill.amount,
                Bill.due_date,
                last_sent.c.sent_at,
            )
            .join(UtilityAccount, UtilityAccount.id == Bill.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == Bill.account_id)
            .outerjoin(last_sent, last_sent.c.subject_id == Bill.id)
            .where(Bill.paid_at.is_(None), Bill.due_date < today)
            .order_by(Bill.due_date, Bill.id)
        )
        if manager_id is not None:
            query = query.where(KeyAccountProfile.account_manager_id == manager_id)
        total = await self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = await self.session.execute(query.limit(limit).offset(offset))
        return [ArrearsRow(*row) for row in rows], int(total or 0)
