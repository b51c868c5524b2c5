"""When a conversation goes to a person (pure).

The customer asks for one (human_handoff), complains, or the bot failed to understand them
`fallbacks_before_handoff` times in a row. Complaints and key accounts come first (priority high).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reason = Literal["human_handoff", "complaint", "repeated_fallback"]
Priority = Literal["normal", "high"]
PRIORITY_ORDER: dict[str, int] = {"normal": 0, "high": 1}


@dataclass(frozen=True, slots=True)
class EscalationDecision:
    reason: Reason
    priority: Priority


def decide(
    intent: str, fallbacks_in_a_row: int, *, fallbacks_before_handoff: int, key_account: bool = False
) -> EscalationDecision | None:
    reason: Reason | None = None
    if intent == "complaint":
        reason = "complaint"
    elif intent == "human_handoff":
        reason = "human_handoff"
    elif fallbacks_in_a_row >= fallbacks_before_handoff:
        reason = "repeated_fallback"
    if reason is None:
        return None
    priority: Priority = "high" if reason == "complaint" or key_account else "normal"
    return EscalationDecision(reason, priority)
