"""The SQL of privacy work: everything held about one person, its erasure, the transcript purge. Never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import (
    Application,
    ApplicationEvent,
    BindingAttempt,
    Conversation,
    Customer,
    Escalation,
    FaultTicket,
    Feedback,
    FollowUp,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    Message,
    NoticeDelivery,
    Survey,
    UtilityAccount,
)

ERASED = "erased"
BATCH = 500


@dataclass
class Holdings:
    """The rows that concern one person."""

    customers: list[Customer] = field(default_factory=list)
    accounts: list[UtilityAccount] = field(default_factory=list)
    contacts: list[KeyAccountContact] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)
    bindings: list[IdentityAccount] = field(default_factory=list)
    binding_attempts: list[BindingAttempt] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    tickets: list[FaultTicket] = field(default_factory=list)
    deliveries: list[NoticeDelivery] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    followups: list[FollowUp] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    application_events: list[ApplicationEvent] = field(default_factory=list)


def _in(column: Any, values: Collection[Any]) -> Any:
    return column.in_(list(values)) if values else false()


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def account_by_number(self, number: str) -> UtilityAccount | None:
        return await self.session.scalar(select(UtilityAccount).where(UtilityAccount.account_number == number))

    async def identity(self, channel: str, external_id: str) -> Identity | None:
        return await self.session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )

    async def accounts_of_customers(self, customer_ids: Collection[int]) -> list[UtilityAccount]:
        rows = await self.session.scalars(
            select(UtilityAccount).where(_in(UtilityAccount.customer_id, customer_ids)).order_by(UtilityAccount.id)
        )
        return list(rows)

    async def bound_account_ids(self, identity_ids: Collection[int]) -> set[int]:
        rows = await self.session.scalars(
            select(IdentityAccount.account_id).where(_in(IdentityAccount.identity_id, identity_ids))
        )
        return set(rows)

    async def holdings(self, account_ids: Collection[int], identity_ids: Collection[int]) -> Holdings:
        """Everything about the person who holds these accounts and speaks through these identities: the
        customers of the accounts (and all their accounts), every identity bound to any of them, and the rows
        that point at any of those."""
        s = self.session
        h = Holdings()
        accounts = list(await s.scalars(select(UtilityAccount).where(_in(UtilityAccount.id, account_ids))))
        customer_ids = {a.customer_id for a in accounts}
        h.customers = await self._rows(Customer, _in(Customer.id, customer_ids))
        h.accounts = await self.accounts_of_customers(customer_ids)
        acc_ids = {a.id for a in h.accounts}
        numbers = {a.account_number for a in h.accounts}
        h.bindings = list(
            await s.scalars(
                select(IdentityAccount)
                .where(or_(_in(IdentityAccount.account_id, acc_ids), _in(IdentityAccount.identity_id, identity_ids)))
                .order_by(IdentityAccount.identity_id, IdentityAccount.account_id)
            )
        )
        ids = set(identity_ids) | {b.identity_id for b in h.bindings}
        h.identities = await self._rows(Identity, _in(Identity.id, ids))
        h.contacts = await self._rows(KeyAccountContact, _in(KeyAccountContact.account_id, acc_ids))
        contact_ids = {c.id for c in h.contacts}
        h.binding_attempts = await self._rows(
            BindingAttempt, _in(BindingAttempt.identity_id, ids), _in(BindingAttempt.account_number, numbers)
        )
        h.conversations = await self._rows(Conversation, _in(Conversation.identity_id, ids))
        conv_ids = {c.id for c in h.conversations}
        h.messages = await self._rows(Message, _in(Message.conversation_id, conv_ids))
        h.escalations = await self._rows(
            Escalation,
            _in(Escalation.conversation_id, conv_ids),
            _in(Escalation.identity_id, ids),
            _in(Escalation.account_id, acc_ids),
        )
        h.feedback = await self._rows(Feedback, _in(Feedback.conversation_id, conv_ids), _in(Feedback.identity_id, ids))
        h.tickets = await self._rows(
            FaultTicket, _in(FaultTicket.identity_id, ids), _in(FaultTicket.account_id, acc_ids)
        )
        h.deliveries = await self._rows(
            NoticeDelivery,
            _in(NoticeDelivery.identity_id, ids),
            _in(NoticeDelivery.account_id, acc_ids),
            _in(NoticeDelivery.key_contact_id, contact_ids),
        )
        h.surveys = await self._rows(Survey, _in(Survey.conversation_id, conv_ids), _in(Survey.identity_id, ids))
        h.followups = await self._rows(FollowUp, _in(FollowUp.survey_id, {v.id for v in h.surveys}))
        h.applications = await self._rows(Application, _in(Application.account_id, acc_ids))
        h.application_events = await self._rows(
            ApplicationEvent, _in(ApplicationEvent.application_id, {a.id for a in h.applications})
        )
        return h

    async def _rows(self, model: Any, *matches: Any) -> list[Any]:
        """The rows of `model` that match any of `matches`, by id."""
        return list(await self.session.scalars(select(model).where(or_(*matches)).order_by(model.id)))

    async def erase(self, h: Holdings) -> None:
        """Clear the personal fields of these rows in place; ids, counts, intents, scores and statuses stay."""
        for customer in h.customers:
            customer.name = ERASED
        for account in h.accounts:
            account.address = ""
            account.phone = ""
        for contact in h.contacts:
            contact.name = ERASED
            contact.title = ""
            contact.email = None
            contact.phone = None
            contact.telegram_chat_id = None
        for identity in h.identities:
            identity.external_id = f"{ERASED}-{identity.id}"
            identity.telegram_chat_id = None
            identity.subscribed_notices = False
            identity.bill_reminders = False
            identity.email = None
            identity.email_verified_at = None
        for binding in h.bindings:
            binding.is_current = False
        for attempt in h.binding_attempts:
            attempt.client = None
        for message in h.messages:
            message.text = ""
            message.payload = None
            message.buttons = []
        for feedback in h.feedback:
            feedback.comment = None
        for ticket in h.tickets:
            ticket.location = ""
            ticket.description = ""
        for delivery in h.deliveries:
            delivery.address = ""
            delivery.telegram_chat_id = None
            delivery.last_error = None
        for followup in h.followups:  # staff's notes of a return visit may quote the customer
            followup.note = None
        for application in h.applications:
            application.description = ""
        for event in h.application_events:
            event.note = ""
        await self.session.flush()

    async def old_messages(self, before: datetime, after_id: int, limit: int = BATCH) -> Sequence[Message]:
        """Messages older than `before` that still hold text or buttons, in id order from after_id."""
        rows = await self.session.scalars(
            select(Message)
            .where(
                Message.created_at < before,
                Message.id > after_id,
                or_(Message.text != "", cast(Message.buttons, Text) != "[]"),
            )
            .order_by(Message.id)
            .limit(limit)
        )
        return rows.all()

    async def count_old_comments(self, before: datetime) -> int:
        rows = await self.session.scalars(
            select(Feedback.id).where(Feedback.created_at < before, Feedback.comment.is_not(None))
        )
        return len(rows.all())

    async def purge_old_comments(self, before: datetime) -> int:
        result = await self.session.execute(
            update(Feedback)
            .where(Feedback.created_at < before, Feedback.comment.is_not(None))
            .values(comment=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
