"""The SQL of satisfaction surveys as they are sent and answered (core.feedback.surveys). Inside the caller's
session; never commits. The reports and the follow-up list read the same tables (core.feedback.repository).

Every query is driven by an index: surveys.conversation_id (unique), surveys.identity_id / account_id,
escalations.conversation_id, key_account_profiles (primary key), messages.conversation_id, and the primary
key of messages for the quiet conversations (see `quiet_conversations`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from core.db.repository import RepositoryBase
from core.escalation.policy import OPEN_STATES
from core.models import (
    Conversation,
    Customer,
    Escalation,
    Feedback,
    Identity,
    KeyAccountProfile,
    Message,
    StaffUser,
    Survey,
    UtilityAccount,
)
from core.models.enums import Direction, FeedbackAspect


@dataclass(frozen=True, slots=True)
class QuietConversation:
    conversation: Conversation
    identity: Identity
    answer: Message  # the bot's last message (its intent: the question it answered)


class SurveyRepository(RepositoryBase[Survey]):
    model = Survey

    # ------------------------------------------------------------------------------ before sending one

    async def of_conversation(self, conversation_id: int) -> Survey | None:
        return await self.session.scalar(select(Survey).where(Survey.conversation_id == conversation_id))

    async def sent_since(self, identity_id: int, account_id: int | None, since: datetime) -> int:
        """Surveys sent to this customer after `since`: to the bound account (any of its chats) or to this
        chat itself."""
        customer: ColumnElement[bool] = Survey.identity_id == identity_id
        if account_id is not None:
            customer = or_(Survey.account_id == account_id, customer)
        count = await self.session.scalar(
            select(func.count()).select_from(Survey).where(customer, Survey.sent_at > since)
        )
        return int(count or 0)

    async def person_on_line(self, conversation_id: int) -> bool:
        """Whether the conversation has an open escalation (a person has it, or is about to)."""
        found = await self.session.scalar(
            select(Escalation.id)
            .where(Escalation.conversation_id == conversation_id, Escalation.state.in_(OPEN_STATES))
            .limit(1)
        )
        return found is not None

    async def handler_of(self, conversation_id: int) -> int | None:
        """The staff member the conversation's latest escalation was assigned to, if any."""
        return await self.session.scalar(
            select(Escalation.assigned_to_id)
            .where(Escalation.conversation_id == conversation_id, Escalation.assigned_to_id.is_not(None))
            .order_by(Escalation.id.desc())
            .limit(1)
        )

    async def segment_of(self, account_id: int) -> str | None:
        segment = await self.session.scalar(
            select(Customer.segment)
            .join(UtilityAccount, UtilityAccount.customer_id == Customer.id)
            .where(UtilityAccount.id == account_id)
        )
        return str(segment) if segment is not None else None

    async def last_bot_answer(self, conversation_id: int) -> Message | None:
        """The conversation's latest outgoing message, if the bot wrote it (not staff). Its intent is the
        question it answered (as understood, after the keyword rules' second opinion)."""
        message = await self.session.scalar(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == Direction.OUT)
            .order_by(Message.id.desc())
            .limit(1)
        )
        return message if message is not None and message.staff_id is None else None

    async def lock_conversation(self, conversation_id: int) -> None:
        """Serialise two offers in one conversation (PostgreSQL; SQLite has one writer at a time anyway)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
            )

    # ------------------------------------------------------------------------------ answering one

    async def record_score(self, survey: Survey, score: int, at: datetime) -> bool:
        """The score, if the survey has none yet: of two presses at once, one wins. Whether this one did (the
        survey in memory then holds it too)."""
        return await self._set_once(survey, Survey.answered_at, score=score, answered_at=at)

    async def record_aspect(self, survey: Survey, aspect: FeedbackAspect) -> bool:
        """What mattered most, if not given yet. Whether this press gave it."""
        return await self._set_once(survey, Survey.aspect, aspect=aspect)

    async def _set_once(self, survey: Survey, unset: InstrumentedAttribute[Any], **values: object) -> bool:
        """UPDATE … WHERE `unset` IS NULL: atomic on both backends (a second writer finds it set)."""
        result = await self.session.execute(
            update(Survey)
            .where(Survey.id == survey.id, unset.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        won = bool(getattr(result, "rowcount", 0))
        if won:
            for name, value in values.items():
                set_committed_value(survey, name, value)
        return won

    async def answer_of(self, survey_id: int) -> Feedback | None:
        """The survey's answer (its one feedback row: the score, then the comment)."""
        return await self.session.scalar(
            select(Feedback).where(Feedback.survey_id == survey_id).order_by(Feedback.id).limit(1)
        )

    async def manager_of(self, account_id: int) -> int | None:
        """A key account's manager (None: not a key account)."""
        return await self.session.scalar(
            select(KeyAccountProfile.account_manager_id).where(KeyAccountProfile.account_id == account_id)
        )

    async def active(self, staff_ids: Iterable[int | None]) -> set[int]:
        """Those of these staff members still active (a follow-up goes to nobody who left)."""
        ids = sorted({i for i in staff_ids if i is not None})
        if not ids:
            return set()
        rows = await self.session.scalars(select(StaffUser.id).where(StaffUser.id.in_(ids), StaffUser.is_active))
        return set(rows)

    # ------------------------------------------------------------------------------ the quiet ones

    async def quiet_conversations(
        self,
        *,
        since: datetime,
        until: datetime,
        answered: Iterable[str],
        faq_prefix: str,
        limit: int,
        after: int = 0,
    ) -> list[QuietConversation]:
        """Conversations whose last message is a bot answer (to one of the `answered` intents, or a FAQ topic)
        written in [since, until], with no survey yet, oldest answer first, at most `limit` (and only answers
        with an id above `after`: the next page). Locked (SKIP LOCKED on PostgreSQL) so two workers do not
        both offer one.

        Driven by the primary key of messages: the newest message older than `since` is found by a backward
        scan of that index (it stops at the first one: only the messages of the window are read), and only
        the messages after it are grouped by conversation; no scan of the whole transcript."""
        floor = await self.session.scalar(
            select(Message.id).where(Message.created_at < since).order_by(Message.id.desc()).limit(1)
        )
        latest = (
            select(Message.conversation_id, func.max(Message.id).label("last_id"))
            .where(Message.id > max(floor or 0, after))
            .group_by(Message.conversation_id)
            .subquery()
        )
        query = (
            select(Conversation, Identity, Message)
            .join(latest, latest.c.conversation_id == Conversation.id)
            .join(Message, Message.id == latest.c.last_id)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(
                Message.direction == Direction.OUT,
                Message.staff_id.is_(None),
                Message.created_at >= since,
                Message.created_at <= until,
                or_(Message.intent.in_(sorted(answered)), Message.intent.startswith(faq_prefix, autoescape=True)),
                ~select(Survey.id).where(Survey.conversation_id == Conversation.id).exists(),
            )
            .order_by(Message.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Conversation, skip_locked=True)
        rows = await self.session.execute(query)
        return [QuietConversation(conversation, identity, answer) for conversation, identity, answer in rows.all()]
