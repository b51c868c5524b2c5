"""Handing the conversation to a person: the customer asks for one, complains, or the bot failed to
understand them `fallbacks_before_handoff` times in a row (core.escalation.policy). The escalation is
recorded (key accounts and complaints first) and the customer told.

The handoff issue grows this skill: the queue, an agent's replies, and `intercept` taking every turn while
a person is on the line.
"""

from __future__ import annotations

import dataclasses

from core.dialogue.context import Replies, Turn
from core.dialogue.skills.base import Skill, SkillKit
from core.escalation.policy import EscalationDecision, decide
from core.faults.hazards import HazardKind


class HandoffSkill(Skill):
    intents = frozenset({"human_handoff", "complaint"})

    def __init__(self, kit: SkillKit) -> None:
        super().__init__(kit)
        self.escalation = kit.services.escalation

    async def on_intent(self, turn: Turn, intent: str) -> Replies:
        return await self.escalate_if_needed(turn, intent, ()) or [await self.replies.menu(turn, "fallback")]

    async def escalate_if_needed(self, turn: Turn, intent: str, hazards: tuple[HazardKind, ...]) -> Replies | None:
        """Escalate when the policy says so (after the fallback streak is counted); None when it does not.
        A hazard in the same message gets the safety instruction first."""
        decision = decide(intent, turn.state.fallbacks, fallbacks_before_handoff=self.config.fallbacks_before_handoff)
        if decision is None:
            return None
        turn.state.fallbacks = 0
        replies = await self.escalate(turn, decision)
        if hazards:
            replies.insert(0, self.replies.say(turn, "fault_safety", hazards=hazards))
        return replies

    async def escalate(self, turn: Turn, decision: EscalationDecision) -> Replies:
        if await self.escalation.is_key_account(turn.session, await self.account(turn)):
            decision = dataclasses.replace(decision, priority="high")
        _, created = await self.escalation.record(turn.session, turn.conversation, decision)
        template = "escalated" if created else "escalation_pending"
        return [self.replies.say(turn, template, reason=decision.reason)]
