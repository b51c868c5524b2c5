"""EscalationService on a real database: one open escalation per conversation, its priority raised and
never lowered, a new one once the old is resolved; key accounts recognised."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import FrozenClock
from core.customers.service import IdentityService
from core.db import session_scope
from core.escalation.policy import EscalationDecision
from core.models import Conversation, Escalation, KeyAccountProfile, UtilityAccount
from core.models.enums import EscalationState, Priority
from tests.support.dialogue import load_demo_data
from tests.support.services import core_services


async def web_conversation(session, clock: FrozenClock) -> Conversation:  # type: ignore[no-untyped-def]
    """The conversation a new web chat session starts with."""
    identity = await IdentityService(clock).start_web_session(session, "zh")
    conversation = await session.scalar(select(Conversation).where(Conversation.identity_id == identity.id))
    assert conversation is not None
    return conversation


async def test_one_open_escalation_per_conversation_priority_only_rises(
    sessionmaker, clock: FrozenClock, settings
) -> None:  # type: ignore[no-untyped-def]
    service = core_services(clock, settings).escalations
    async with session_scope(sessionmaker) as session:
        conversation = await web_conversation(session, clock)
        first, created = await service.record(session, conversation, EscalationDecision("human_handoff", "normal"))
        assert created and (first.state, first.priority, first.reason) == (
            EscalationState.PENDING,
            Priority.NORMAL,
            "human_handoff",
        )
        assert first.identity_id == conversation.identity_id and first.created_at == clock.now()
        again, created = await service.record(session, conversation, EscalationDecision("complaint", "high"))
        assert not created and again.id == first.id and again.priority is Priority.HIGH
        lower, created = await service.record(session, conversation, EscalationDecision("repeated_fallback", "normal"))
        assert not created and lower.priority is Priority.HIGH  # never lowered
        first.state = EscalationState.RESOLVED
        await session.flush()
        new, created = await service.record(session, conversation, EscalationDecision("human_handoff", "normal"))
        assert created and new.id != first.id
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(Escalation).order_by(Escalation.id)))
    assert [(e.state, e.priority) for e in rows] == [
        (EscalationState.RESOLVED, Priority.HIGH),
        (EscalationState.PENDING, Priority.NORMAL),
    ]


async def test_key_accounts_are_recognised(sessionmaker, clock: FrozenClock, settings) -> None:  # type: ignore[no-untyped-def]
    await load_demo_data(sessionmaker, clock)
    service = core_services(clock, settings).escalations
    async with sessionmaker() as session:
        key = await session.scalar(
            select(UtilityAccount).join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id).limit(1)
        )
        other = await session.scalar(
            select(UtilityAccount).where(UtilityAccount.id.not_in(select(KeyAccountProfile.account_id))).limit(1)
        )
        assert key is not None and other is not None
        assert await service.is_key_account(session, key)
        assert not await service.is_key_account(session, other)
        assert not await service.is_key_account(session, None)


async def test_a_key_accounts_escalation_goes_to_its_account_manager(
    sessionmaker, clock: FrozenClock, settings
) -> None:  # type: ignore[no-untyped-def]
    await load_demo_data(sessionmaker, clock)
    service = core_services(clock, settings).escalations
    async with session_scope(sessionmaker) as session:
        key, manager = (
            await session.execute(
                select(UtilityAccount, KeyAccountProfile.account_manager_id)
                .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
                .limit(1)
            )
        ).one()
        conversation = await web_conversation(session, clock)
        escalation, created = await service.record(
            session, conversation, EscalationDecision("human_handoff", "high"), key
        )
        assert created and (escalation.state, escalation.assigned_to_id, escalation.account_id) == (
            EscalationState.ASSIGNED,
            manager,
            key.id,
        )
        assert await service.place(session, escalation) == 0  # a person has it already
