"""Handing the conversation to a person, and the conversation while it waits for one.

An escalation is recorded when the customer asks for a person, complains, reports a hazard, or the bot
failed to understand them `fallbacks_before_handoff` times in a row (core.escalation.policy); the customer
is told their place in the queue (and, outside on-duty hours, when a person will answer and that the hotline
is open day and night).

While it is open this skill takes every turn (`intercept`, first of all skills): the bot stops answering;
what the customer writes is in the transcript the agent reads; while nobody has taken it yet the customer is
told their place. Safety first even then: a hazard gets the safety instruction at once, a known outage at
the customer's address is told, and a notice's Confirm / Problem press (or an outage_ack) is still recorded.
A message soon after it was resolved reopens it; a survey answer, a thanks or a goodbye never does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from core.conversations.memo import memo_of
from core.customers.repository import ESCALATED
from core.dialogue.context import Replies, Turn
from core.dialogue.notices import NOTICE_PAYLOAD_PREFIX
from core.dialogue.skills.base import Skill, SkillKit
from core.escalation.policy import EscalationDecision, decide, priority_of
from core.faults.hazards import HazardKind, hazards_in
from core.models import Escalation
from core.models.enums import EscalationReason, EscalationState, Priority
from core.ports import OutgoingMessage

# While a person has the conversation these still get the bot's own answer.
PASS_THROUGH_PAYLOADS = ("lang", "survey")
PASS_THROUGH_INTENTS = frozenset({"outage_ack"})
# A closing word after the conversation was resolved is not a new request.
NEVER_REOPENS = frozenset({"thanks", "goodbye", "greet", "feedback", "outage_ack"})
# Intents after which a known outage at the customer's address is told even while waiting.
ABOUT_POWER = frozenset({"outage_status", "report_fault"})


class HandoffSkill(Skill):
    intents = frozenset({"human_handoff", "complaint"})

    def __init__(self, kit: SkillKit, *, report_fault: Callable[[Turn], Awaitable[Replies]]) -> None:
        super().__init__(kit)
        self.escalation = kit.services.escalation
        self.outages = kit.services.outages
        self.report_fault = report_fault  # the fault skill's: safety instruction, then the report

    # ---------------------------------------------------------------------- while a person has it

    async def intercept(self, turn: Turn) -> Replies | None:
        payload = turn.payload or ""
        kind = payload.partition(":")[0]
        closing = turn.payload is None and turn.nlu.intent in NEVER_REOPENS
        reopen = not closing and kind not in PASS_THROUGH_PAYLOADS and not payload.startswith(NOTICE_PAYLOAD_PREFIX)
        memo = memo_of(turn.session)
        if memo is not None and memo.get((ESCALATED, turn.identity.id)) is False:
            return None  # read with the identity this turn: never escalated, nothing waiting or to reopen
        escalation = await self.escalation.waiting(turn.session, turn.identity, reopen=reopen)
        if escalation is None:
            return None
        if payload.startswith(NOTICE_PAYLOAD_PREFIX) or kind in PASS_THROUGH_PAYLOADS:
            return None  # answered as usual (a notice's buttons are recorded; a language is chosen)
        if turn.payload is None and turn.nlu.intent in PASS_THROUGH_INTENTS:
            return None
        if turn.state.form == "fault" or kind == "fault":
            return None  # a fault report under way goes on: safety first
        if turn.payload is None and turn.nlu.intent in self.intents:
            return await self.on_intent(turn, turn.nlu.intent)  # asked again (a complaint raises its priority)
        if hazards_in(turn.text):
            escalation.priority = Priority.HIGH  # a danger moves it up the queue
            return [*await self.report_fault(turn), *await self._outage_here(turn)]
        replies: Replies = []
        if turn.nlu.intent in ABOUT_POWER:
            replies.extend(await self._outage_here(turn))
        if escalation.state == EscalationState.PENDING:
            replies.append(await self._waiting(turn, escalation, "handoff_waiting"))
        return replies

    async def _outage_here(self, turn: Turn) -> Replies:
        account = await self.account(turn)
        if account is None:
            return []
        here = await self.outages.current(turn.session, turn.now, account)
        if not here:
            return []
        contexts = [facts.context(turn.language) for facts in here]
        return [self.replies.say(turn, "outage_current", account=account, outages=contexts)]

    async def _waiting(self, turn: Turn, escalation: Escalation, template: str, **context: object) -> OutgoingMessage:
        rules = self.escalation.rules
        on_duty = rules.on_duty(turn.now)
        return self.replies.say(
            turn,
            template,
            (),
            place=await self.escalation.place(turn.session, escalation),
            on_duty=on_duty,
            duty_start=rules.next_on_duty(turn.now),
            **context,
        )

    # ------------------------------------------------------------------------------- handing over

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

    async def escalate_hazard(self, turn: Turn) -> Replies:
        """A fault report describing a danger: a person follows it up at once (the ticket is urgent too)."""
        return await self.escalate(turn, EscalationDecision(EscalationReason.HAZARD, Priority.HIGH))

    async def escalate(self, turn: Turn, decision: EscalationDecision) -> Replies:
        account = await self.account(turn)
        if await self.escalation.is_key_account(turn.session, account):
            decision = dataclasses.replace(decision, priority=priority_of(decision.reason, key_account=True))
        escalation, created = await self.escalation.record(turn.session, turn.conversation, decision, account)
        template = "escalated" if created else "escalation_pending"
        return [await self._waiting(turn, escalation, template, reason=decision.reason)]
