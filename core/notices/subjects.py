"""How an outbox row becomes the message it sends, by what it is about (its subject kind).

Each kind loads what its rows of one claimed batch need in one go, then renders row by row:
- outage: the notice of a stage to a customer (from the outage's facts), or an alert to a key account's
  manager (unconfirmed final confirmation, problem reported);
- message: a message of a conversation sent out of turn (a staff reply), as its transcript row has it;
- escalation: an alert to the supervisors that an escalation waits past the first-response target;
- application: a change of an application's stage, to its customer (core.applications.notices);
- bill: by purpose (ByPurpose): a reminder before or after its due date (core.billing.reminders), the
  month's statement by email (core.billing.statements).
A new kind of proactive message (surveys, application updates, statements, reminders) adds one here.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.applications.notices import ApplicationProgressNotices
from core.applications.stages import StageRules
from core.billing.reminders import BillReminderNotices
from core.billing.statements import StatementNotices
from core.config import Settings
from core.conversations.repository import MessageRepository
from core.escalation.repository import EscalationRepository
from core.models import NoticeDelivery
from core.models.enums import AlertKind, BillNotice, SubjectKind, Tier
from core.notices.audiences import AudienceRepository
from core.notices.confirmation_repository import ConfirmationRepository
from core.notices.render import NoticeRenderer, RenderedNotice
from core.outages.repository import OutageRepository
from core.ports import Button
from core.security import mask_digits

Render = Callable[[NoticeDelivery], RenderedNotice]


class SubjectRenderer(Protocol):
    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        """What the rows need, loaded in the caller's session; then a function rendering one row."""
        ...


class OutageNotices:
    def __init__(self, renderer: NoticeRenderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        outages = OutageRepository(session)
        found = await outages.facts([o for i in {r.subject_id for r in rows} if (o := await outages.get(i))])
        facts = {f.id: f for f in found}
        keys = await AudienceRepository(session).key_accounts(
            {r.account_id for r in rows if r.account_id and r.tier != Tier.EVERYONE}
        )
        names = await self._staff_context(session, rows)
        shared: dict[tuple[object, ...], RenderedNotice] = {}  # residential notices of a stage are alike

        def render(row: NoticeDelivery) -> RenderedNotice:
            key = keys.get(row.account_id or 0)
            if row.tier == Tier.STAFF:
                assert key is not None, "an alert to a manager names the key account"
                return self.renderer.manager_alert(
                    "problem" if row.stage == AlertKind.PROBLEM else "unconfirmed",
                    row.language,
                    facts[row.subject_id],
                    key,
                    contacts=names.get(row.id, []),
                    sent_at=None,
                    minutes=self.settings.notice_confirm_minutes,
                )
            same = (row.subject_id, row.stage, row.language, row.channel, row.segment)
            notice = shared.get(same) if row.tier == Tier.EVERYONE else None
            if notice is None:
                notice = self.renderer.notice(
                    row.stage,
                    row.language,
                    facts[row.subject_id],
                    key=key if row.tier == Tier.KEY_ACCOUNT else None,
                    delivery_id=row.id,
                    channel=row.channel,
                )
                if row.tier == Tier.EVERYONE:
                    shared[same] = notice
            return self.renderer.for_delivery(notice, row.id)

        return render

    @staticmethod
    async def _staff_context(session: AsyncSession, rows: Sequence[NoticeDelivery]) -> dict[int, list[str]]:
        """For alerts to managers: the names of the contacts concerned, by delivery id."""
        names: dict[int, list[str]] = {}
        for row in rows:
            if row.tier != Tier.STAFF or row.account_id is None:
                continue
            if row.stage == AlertKind.PROBLEM and row.key_contact_id is not None:
                contact = (await AudienceRepository(session).contacts([row.key_contact_id])).get(row.key_contact_id)
                names[row.id] = [contact.name] if contact else []
            else:
                names[row.id] = await ConfirmationRepository(session).unconfirmed_contact_names(
                    row.subject_id, row.account_id, row.revision
                )
        return names


class ConversationMessages:
    """A transcript row sent as it is: its text (escaped for Telegram's HTML mode) and its buttons."""

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        messages = await MessageRepository(session).by_ids({r.subject_id for r in rows})

        def render(row: NoticeDelivery) -> RenderedNotice:
            message = messages[row.subject_id]
            buttons = tuple(Button(b["title"], b["payload"]) for b in message.buttons or [])
            return RenderedNotice(html.escape(message.text, quote=False), "", buttons)

        return render


class EscalationAlerts:
    """An escalation waiting too long, for the supervisors, with a link to it in the console."""

    def __init__(self, renderer: NoticeRenderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        escalations = await EscalationRepository(session).for_alerts({r.subject_id for r in rows})
        base = self.settings.base_url.rstrip("/")

        def render(row: NoticeDelivery) -> RenderedNotice:
            escalation, channel, assignee, number = escalations[row.subject_id]
            minutes = max(0, int((row.due_at - escalation.created_at).total_seconds() // 60))
            text = self.renderer.renderer.render(
                "notices/escalation_overdue",
                row.language,
                html=True,
                escalation={
                    "id": escalation.id,
                    "reason_text": self.renderer.renderer.render(
                        "notices/escalation_reason", row.language, reason=escalation.reason
                    ),
                    "high": escalation.priority == "high",
                    "waiting_minutes": minutes,
                    "assignee": assignee,
                    "channel": channel or "",
                    "account_number": mask_digits(number) if number else "",
                    "url": f"{base}/console/escalations/{escalation.id}",
                },
            )
            return RenderedNotice(text, text.splitlines()[0].replace("<b>", "").replace("</b>", ""))

        return render


def subject_renderers(renderer: NoticeRenderer, settings: Settings) -> dict[str, SubjectRenderer]:
    return {
        SubjectKind.OUTAGE: OutageNotices(renderer, settings),
        SubjectKind.MESSAGE: ConversationMessages(),
        SubjectKind.ESCALATION: EscalationAlerts(renderer, settings),
        SubjectKind.APPLICATION: ApplicationProgressNotices(
            renderer.renderer, StageRules.from_settings(settings), settings
        ),
        SubjectKind.BILL: ByPurpose(bill_renderers(renderer, settings)),
    }


class ByPurpose:
    """The renderers of a subject kind whose purposes are told differently (a bill: its reminders, its
    statement), chosen by the row's purpose."""

    def __init__(self, renderers: dict[str, SubjectRenderer]) -> None:
        self.renderers = renderers

    async def load(self, session: AsyncSession, rows: Sequence[NoticeDelivery]) -> Render:
        renders = {
            purpose: await renderer.load(session, mine)
            for purpose, renderer in self.renderers.items()
            if (mine := [row for row in rows if row.stage == purpose])
        }
        return lambda row: renders[row.stage](row)


def bill_renderers(renderer: NoticeRenderer, settings: Settings) -> dict[str, SubjectRenderer]:
    """A bill's outbox rows by purpose (BillNotice)."""
    reminders = BillReminderNotices(renderer.renderer, settings)
    statements = StatementNotices(renderer.renderer, settings)
    return {
        BillNotice.DUE: reminders,
        BillNotice.ARREARS: reminders,
        BillNotice.STATEMENT: statements,
        BillNotice.CORRECTION: statements,
    }
