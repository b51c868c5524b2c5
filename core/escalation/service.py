"""Recording that a conversation needs a person. Built once per process; a session per call; never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.service import CustomerAccounts
from core.escalation.policy import PRIORITY_ORDER, EscalationDecision
from core.escalation.repository import EscalationRepository
from core.models import Conversation, Escalation, UtilityAccount
from core.models.enums import EscalationState, Priority


class EscalationService:
    def __init__(self, clock: Clock, accounts: CustomerAccounts) -> None:
        self.clock = clock
        self.accounts = accounts

    async def is_key_account(self, session: AsyncSession, account: UtilityAccount | None) -> bool:
        """Whether the conversation is about a key account (its escalations come first)."""
        return account is not None and await self.accounts.is_key_account(session, account.id)

    async def record(
        self, session: AsyncSession, conversation: Conversation, decision: EscalationDecision
    ) -> tuple[Escalation, bool]:
        """Record that the conversation needs a person; (the escalation, whether it is new).

        A conversation has at most one open escalation: asking again keeps it (raising its priority if the new
        reason is more urgent) instead of queueing the customer twice.
        """
        repo = EscalationRepository(session)
        existing = await repo.open_for_conversation(conversation.id)
        if existing is not None:
            if PRIORITY_ORDER[decision.priority] > PRIORITY_ORDER.get(existing.priority, 0):
                existing.priority = Priority(decision.priority)
            return existing, False
        escalation = repo.add(
            Escalation(
                conversation_id=conversation.id,
                identity_id=conversation.identity_id,
                reason=decision.reason,
                priority=Priority(decision.priority),
                state=EscalationState.PENDING,
                created_at=self.clock.now(),
            )
        )
        await session.flush()
        return escalation, True
