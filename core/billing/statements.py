"""A month's bill statement by email: the bill, its breakdown and why it changed, with its figures as CSV.

Who: every contact with an email address of a key account whose bill was loaded (a bills import created or
changed it, or the demo data's latest month), once per bill × contact; a bill imported again with other figures
after its statement went out is mailed again as a correction (purpose `correction`, its own round each time:
"corrected" in the subject and at the top), while a statement still waiting to go needs none (it is rendered
when it is sent, from the figures as they are then); and a customer who asks for it in the chat
("把账单发我邮箱"), at the email address they verified in the web chat, their bound account's
latest bill (a request repeated within the same minute is one email). How: one outbox row per person, subject
the bill, purpose `statement`, channel email only, tier of key accounts (or of everybody else for a residential
customer asking); no deadline, sent at once: the quiet hours hold back only residential outage notices
(core.notices.send_rules), and an email wakes nobody.
What: rendered when it is sent (StatementNotices, registered in core.notices.subjects) in the person's language
from templates/notices/bill_statement*: the account, the period, the amount and due date, the chat's own
breakdown (dialogue/bill_explain: lines, tiers, peak/valley, the change from the previous bill and why, computed
by core.billing.service.BillingService.explain), who to call (the account manager and their 24-hour phone, else
the service hotline), and the figures as a CSV attachment.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.repository import BillRepository
from core.billing.service import BillingService
from core.billing.statement_repository import Mailed, StatementBill, StatementRepository
from core.clock import Clock
from core.config import Settings
from core.models import Identity, NoticeDelivery, UtilityAccount
from core.models.enums import BillNotice, DeliveryChannel, Language, Segment, SubjectKind, Tier, values
from core.notices.audiences import AudienceRepository, KeyAccountInfo
from core.notices.outbox import ContactKey, DeliveryDraft, Recipient, Route, Subject
from core.notices.planning import NoticePlanner
from core.notices.render import Attachment, RenderedNotice, plain_text
from core.notices.repository import OutboxRepository
from core.outages.facts import Scope
from core.templating import Renderer

TEMPLATE = "notices/bill_statement"
CSV_BOM = "\ufeff"  # so that Excel reads the Chinese headers as UTF-8
Render = Callable[[NoticeDelivery], RenderedNotice]


def mask_email(address: str) -> str:
    """m***@example.com: the first character of the local part, the domain as it is."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


@dataclass(frozen=True, slots=True)
class Requested:
    """What a chat request for the statement came to: `sent_to` the masked address it was queued to; else
    `no_email` (no verified email address) or `no_bill` (the account has no bill yet)."""

    sent_to: str | None = None
    no_email: bool = False
    no_bill: bool = False
    period: str | None = None


class BillStatements:
    """Built once per process (core.services); a session per call; never commits."""

    def __init__(self, clock: Clock, planner: NoticePlanner) -> None:
        self.clock = clock
        self.planner = planner

    async def queue(
        self, session: AsyncSession, bills: Collection[tuple[int, str]], *, corrected: Collection[tuple[int, str]] = ()
    ) -> int:
        """Queue the statements of the key accounts' bills among `bills` (account id, period) for their
        contacts with an email address; how many were new (one already queued is not queued again). The bills
        also in `corrected` had their figures changed: whoever was mailed their statement gets a correction."""
        repo = StatementRepository(session)
        key_bills = await repo.key_account_bills(bills)
        if not key_bills:
            return 0
        changed = set(await repo.key_account_bills(corrected)) if corrected else set()
        contacts = await AudienceRepository(session).key_contacts(Scope(account_ids=tuple(set(key_bills.values()))))
        people = [
            (contact.account_id, self.planner.key_contact(contact).rerouted((Route(DeliveryChannel.EMAIL, email),)))
            for contact in contacts
            if (email := contact.email)
        ]
        now = self.clock.now()
        mailed = await repo.mailed(key_bills)
        drafts: list[DeliveryDraft] = []
        for bill_id, account_id in sorted(key_bills.items()):
            for owner, person in people:
                if owner != account_id:
                    continue
                before = mailed.get((bill_id, str(person.key)), Mailed())
                if not before.statements:
                    purpose, revision = BillNotice.STATEMENT, 0
                elif bill_id in changed and before.sent and not before.waiting:
                    purpose, revision = BillNotice.CORRECTION, before.corrections + 1
                else:
                    continue  # queued already, and not changed since (or still to go, with the new figures)
                subject = Subject(SubjectKind.BILL, bill_id)
                drafts += person.drafts(subject, purpose, due_at=now, release_at=now, revision=revision)
        await OutboxRepository(session).store(drafts, now)
        return len(drafts)

    async def queue_latest(self, session: AsyncSession) -> int:
        """Queue every key account's latest statement (the demo data's month) to its contacts."""
        return await self.queue(session, await StatementRepository(session).latest_key_account_periods())

    async def request(self, session: AsyncSession, identity: Identity, account: UtilityAccount) -> Requested:
        """A customer asked for their bill by email: the bound account's latest bill, to their verified email."""
        if not identity.email or identity.email_verified_at is None:
            return Requested(no_email=True)
        latest = await BillRepository(session).latest(account.id, 1)
        if not latest:
            return Requested(no_bill=True)
        segment = (await StatementRepository(session).bills([latest[0].id]))[latest[0].id].segment
        person = Recipient(
            key=ContactKey.identity(identity.id),
            tier=Tier.KEY_ACCOUNT if segment == Segment.KEY_ACCOUNT else Tier.EVERYONE,
            segment=segment,
            language=Language(identity.language) if identity.language in values(Language) else Language.ZH,
            routes=(Route(DeliveryChannel.EMAIL, identity.email),),
            account_id=account.id,
            identity_id=identity.id,
        )
        now = self.clock.now()
        minute = int(now.timestamp() // 60)  # the round: a request repeated within a minute is one email
        subject = Subject(SubjectKind.BILL, latest[0].id)
        before = await StatementRepository(session).mailed([subject.id])
        if minute not in before.get((subject.id, str(person.key)), Mailed()).statements:
            drafts = person.drafts(subject, BillNotice.STATEMENT, due_at=now, release_at=now, revision=minute)
            await OutboxRepository(session).store(list(drafts), now)
        return Requested(sent_to=mask_email(identity.email), period=latest[0].period)


class StatementNotices:
    """How an outbox row about a bill's statement is rendered (a SubjectRenderer of core.notices.subjects)."""

    def __init__(self, renderer: Renderer, settings: Settings) -> None:
        self.renderer = renderer
        self.hotline = settings.service_hotline
        self.billing = BillingService()

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        found = await StatementRepository(session).bills({row.subject_id for row in rows})
        explained = {i: await self.billing.explain(session, s.account, s.bill) for i, s in found.items()}
        managers = await AudienceRepository(session).key_accounts({s.account.id for s in found.values()})

        def render(row: NoticeDelivery) -> RenderedNotice:
            statement = found[row.subject_id]
            context = self.context(statement, managers.get(statement.account.id))
            context["corrected"] = row.stage == BillNotice.CORRECTION
            return self.render(row.language, context, explained[row.subject_id])

        return render

    def context(self, statement: StatementBill, manager: KeyAccountInfo | None) -> dict[str, Any]:
        bill, account = statement.bill, statement.account
        return {
            "account_number": account.account_number,
            "customer_name": statement.customer_name,
            "period": bill.period,
            "amount": bill.amount,
            "due_date": bill.due_date.isoformat(),
            "paid": bill.paid_at is not None,
            "attached": True,
            "corrected": False,
            "manager": (
                {"name": manager.manager_name, "phone": manager.manager_phone}
                if manager is not None and manager.manager_phone
                else None
            ),
        }

    def render(self, language: str, s: dict[str, Any], x: object) -> RenderedNotice:
        """The statement: the HTML body (the chat's breakdown inside), its subject line and the CSV."""
        account = {"account_number": s["account_number"]}
        text = self.renderer.render(TEMPLATE, language, html=True, s=s, x=x, account=account, hotline=self.hotline)
        subject = " ".join(self.renderer.render(f"{TEMPLATE}_subject", language, s=s).split())
        figures = self.renderer.render(f"{TEMPLATE}_csv", language, s=s, x=x)
        csv = CSV_BOM + "\r\n".join(figures.splitlines()) + "\r\n"
        name = f"statement-{s['account_number']}-{s['period']}.csv"
        return RenderedNotice(text, plain_text(subject), attachments=(Attachment(name, csv.encode()),))
