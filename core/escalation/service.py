from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.escalation.policy import PRIORITY_ORDER, EscalationDecision
from core.escalation.repository import EscalationRepository
from core.models import Conversation, Escalation


async def record_escalation(
    session: AsyncSession, clock: Clock, conversation: Conversation, decision: EscalationDecision
) -> tuple[Escalation, bool]:
    """Record that the conversation needs a person; (the escalation, whether it is new).

    A conversation has at most one open escalation: asking again keeps it (raising its priority if the new
    reason is more urgent) instead of queueing the customer twice.
    """
    repo = EscalationRepository(session)
    existing = await repo.open_for_conversation(conversation.id)
    if existing is not None:
        if PRIORITY_ORDER[decision.priority] > PRIORITY_ORDER.get(existing.priority, 0):
            existing.priority = decision.priority
        return existing, False
    escalation = repo.add(
        Escalation(
            conversation_id=conversation.id,
            identity_id=conversation.identity_id,
            reason=decision.reason,
            priority=decision.priority,
            state="pending",
            created_at=clock.now(),
        )
    )
    await session.flush()
    return escalation, True
