"""The SQL of the "not understood" inbox: which customer messages wait for an intent, and the annotations.
Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, update
from sqlalchemy.orm import aliased

from core.db.repository import RepositoryBase
from core.models import Escalation, Message, NluAnnotation
from core.models.enums import Direction


@dataclass(frozen=True, slots=True)
class WaitingRule:
    """What puts a customer message in the inbox."""

    fallback_intent: str  # the intent the NLU gives what it did not understand
    below: float  # a confidence under this is low
    escalated_within: int  # an escalation within this many customer messages (this one included)
    handoff_intent: str  # asking for a person, understood: not listed for the escalation it caused


@dataclass(frozen=True, slots=True)
class WaitingRow:
    message: Message
    fallback: bool
    low_confidence: bool
    escalated: bool


class NluAnnotationRepository(RepositoryBase[NluAnnotation]):
    model = NluAnnotation

    @staticmethod
    def _reasons(rule: WaitingRule) -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
        fallback = Message.intent == rule.fallback_intent
        low = and_(
            Message.confidence.is_not(None),
            Message.confidence < rule.below,
            or_(Message.intent.is_(None), Message.intent != rule.fallback_intent),
        )
        later = aliased(Message)
        between = (
            select(func.count(later.id))
            .where(
                later.conversation_id == Message.conversation_id,
                later.direction == Direction.IN,
                later.id > Message.id,
                later.created_at <= Escalation.created_at,
            )
            .correlate(Message, Escalation)  # two levels up: the message, and the escalation of the EXISTS
            .scalar_subquery()
        )
        escalated = and_(
            or_(Message.intent.is_(None), Message.intent != rule.handoff_intent),
            exists(
                select(Escalation.id).where(
                    Escalation.conversation_id == Message.conversation_id,
                    Escalation.created_at >= Message.created_at,
                    between < rule.escalated_within,
                )
            ),
        )
        return fallback, low, escalated

    @staticmethod
    def _waiting(reasons: tuple[ColumnElement[bool], ...]) -> list[ColumnElement[bool]]:
        annotated = exists(select(NluAnnotation.id).where(NluAnnotation.message_id == Message.id))
        return [
            Message.direction == Direction.IN,
            Message.text != "",  # purged or erased: nothing to learn from
            Message.payload.is_(None),  # a button press is not language
            ~annotated,
            or_(false(), *reasons),
        ]

    async def waiting(self, rule: WaitingRule, *, limit: int, offset: int) -> list[WaitingRow]:
        """Newest first."""
        fallback, low, escalated = self._reasons(rule)
        rows = await self.session.execute(
            select(Message, fallback.label("fallback"), low.label("low"), escalated.label("escalated"))
            .where(*self._waiting((fallback, low, escalated)))
            .order_by(Message.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [WaitingRow(m, bool(f), bool(lo), bool(e)) for m, f, lo, e in rows.all()]

    async def count_waiting(self, rule: WaitingRule) -> int:
        query = select(func.count(Message.id)).where(*self._waiting(self._reasons(rule)))
        return int(await self.session.scalar(query) or 0)

    async def message(self, message_id: int) -> Message | None:
        return await self.session.get(Message, message_id)

    async def for_message(self, message_id: int) -> NluAnnotation | None:
        return await self.session.scalar(select(NluAnnotation).where(NluAnnotation.message_id == message_id))

    async def to_export(self, *, everything: bool) -> Sequence[tuple[NluAnnotation, str]]:
        """Annotations with their message's text (not yet exported ones, or all), oldest annotation first."""
        query = select(NluAnnotation, Message.text).join(Message, Message.id == NluAnnotation.message_id)
        if not everything:
            query = query.where(NluAnnotation.exported_at.is_(None))
        rows = await self.session.execute(query.order_by(NluAnnotation.annotated_at, NluAnnotation.id))
        return [(a, str(text)) for a, text in rows.all()]

    async def mark_exported(self, ids: Sequence[int], at: datetime) -> None:
        if ids:
            await self.session.execute(
                update(NluAnnotation)
                .where(NluAnnotation.id.in_(list(ids)))
                .values(exported_at=at)
                .execution_options(synchronize_session=False)
            )
