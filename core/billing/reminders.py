"""Bill reminders: an unpaid bill's due date coming (DUE), then passed (ARREARS), told to the customers who opted
in (identities.bill_reminders, turned on and off in the chat: core.dialogue.skills.bill_reminders).

When (`window`, pure): DUE from GRIDTALK_BILL_DUE_REMINDER_DAYS before the due date until the due date itself;
ARREARS from GRIDTALK_ARREARS_REMINDER_DAYS after it, for ARREARS_LATEST more days (a bill found overdue long
after is left to the console's arrears page rather than told late). Days are the utility's local dates.
Who and how: every opted-in identity bound to the bill's account that a message can reach — Telegram, or the
web chat's verified email, as application progress messages are sent — one outbox row per bill × person ×
purpose (the outbox's unique key: told once, running the job twice changes nothing); subject the bill, tier of
key accounts or of everybody else, no deadline. Never in the quiet hours: drafted then, a row is released when
they end, and the dispatcher holds a reminder claimed inside them (core.notices.send_rules).
Paid meanwhile: each run first cancels the reminders still waiting whose bill has been paid (or whose person
turned reminders off); the worker runs this job before the dispatcher in every tick, so a bill paid before its
reminder left stops it.
What: rendered when sent (BillReminderNotices) — amount, period, due date, how to pay; overdue by how many days.
The console's arrears page (api.console.arrears) lists the unpaid bills past their due date (`arrears`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.reminder_repository import ReminderRepository
from core.clock import Clock
from core.config import Settings
from core.models import NoticeDelivery
from core.models.enums import BillNotice, SubjectKind
from core.notices.outbox import DeliveryDraft, Subject
from core.notices.planning import NoticePlanner
from core.notices.render import RenderedNotice, plain_text
from core.notices.repository import OutboxRepository
from core.outages.planner import end_of_quiet_hours
from core.security import mask_account, mask_digits
from core.templating import Renderer

TEMPLATES = {BillNotice.DUE: "notices/bill_due", BillNotice.ARREARS: "notices/bill_arrears"}
ARREARS_LATEST = 7  # days after the arrears reminder's first day it may still be sent
Render = Callable[[NoticeDelivery], RenderedNotice]


@dataclass(frozen=True, slots=True)
class ReminderRules:
    due_days: int = 3
    arrears_days: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> ReminderRules:
        return cls(settings.bill_due_reminder_days, settings.arrears_reminder_days)

    def window(self, purpose: BillNotice, today: date) -> tuple[date, date]:
        """The due dates (first, last, inclusive) of the bills whose `purpose` reminder is due on `today`."""
        if purpose == BillNotice.DUE:
            return today, today + timedelta(days=self.due_days)
        latest = today - timedelta(days=self.arrears_days)
        return latest - timedelta(days=ARREARS_LATEST), latest

    def reminder(self, due_date: date, today: date) -> BillNotice | None:
        """Which reminder a bill due on `due_date`, unpaid, gets on `today` (None: none today)."""
        for purpose in (BillNotice.DUE, BillNotice.ARREARS):
            first, last = self.window(purpose, today)
            if first <= due_date <= last:
                return purpose
        return None


def days_overdue(due_date: date, today: date) -> int:
    return max(0, (today - due_date).days)


class BillReminders:
    """Built once per process (core.services); a session per call; never commits."""

    def __init__(self, clock: Clock, settings: Settings, planner: NoticePlanner) -> None:
        self.clock = clock
        self.rules = ReminderRules.from_settings(settings)
        self.tz = settings.tz
        self.planner = planner

    async def run(self, session: AsyncSession) -> int:
        """Cancel what a payment stopped, then queue the reminders due today; how many people were queued."""
        repo = ReminderRepository(session)
        await repo.cancel_stale()
        now = self.clock.now()
        today = now.astimezone(self.tz).date()
        release = end_of_quiet_hours(now, self.planner.rules)
        drafts: list[DeliveryDraft] = []
        for purpose in (BillNotice.DUE, BillNotice.ARREARS):
            first, last = self.rules.window(purpose, today)
            for found in await repo.candidates(first, last, purpose):
                person = self.planner.subscriber(found.identity)
                subject = Subject(SubjectKind.BILL, found.bill_id)
                drafts.extend(person.drafts(subject, purpose, due_at=now, release_at=release))
        await OutboxRepository(session).store(drafts, now)
        return len({(d.subject.id, d.purpose, d.recipient.key) for d in drafts})

    async def arrears(
        self, session: AsyncSession, *, manager_id: int | None, limit: int, offset: int
    ) -> tuple[list[Arrears], int]:
        """The unpaid bills past their due date, most overdue first (a manager: their key accounts' only), with
        when a reminder of each was last sent; a page of them and how many in all."""
        today = self.clock.now().astimezone(self.tz).date()
        rows, total = await ReminderRepository(session).arrears(today, manager_id, limit, offset)
        items = [
            Arrears(
                mask_account(row.account_number),
                row.customer_name,
                row.key_account,
                row.period,
                row.amount,
                row.due_date,
                days_overdue(row.due_date, today),
                row.last_reminder_at,
            )
            for row in rows
        ]
        return items, total


@dataclass(frozen=True, slots=True)
class Arrears:
    """An unpaid bill past its due date, as the console's arrears page shows it (the account number masked)."""

    account_number: str
    customer_name: str
    key_account: bool
    period: str
    amount: Decimal
    due_date: date
    days_overdue: int
    last_reminder_at: datetime | None


class BillReminderNotices:
    """How an outbox row reminding of a bill is rendered (a SubjectRenderer of core.notices.subjects)."""

    def __init__(self, renderer: Renderer, settings: Settings) -> None:
        self.renderer = renderer
        self.hotline = settings.service_hotline
        self.tz = settings.tz

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        bills = await ReminderRepository(session).bills([row.subject_id for row in rows])

        def render(row: NoticeDelivery) -> RenderedNotice:
            bill = bills[row.subject_id]
            context = {
                "account_number": mask_digits(bill.account_number),
                "customer_name": bill.customer_name,
                "period": bill.period,
                "amount": bill.amount,
                "due_date": bill.due_date.isoformat(),
                "overdue_days": days_overdue(bill.due_date, row.due_at.astimezone(self.tz).date()),
            }
            text = self.renderer.render(
                TEMPLATES[BillNotice(row.stage)], row.language, html=True, hotline=self.hotline, bill=context
            )
            return RenderedNotice(text, plain_text(text.splitlines()[0]))

        return render
