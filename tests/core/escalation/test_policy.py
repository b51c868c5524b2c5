from __future__ import annotations

from core.escalation.policy import EscalationDecision, decide


def test_when_a_person_takes_over() -> None:
    assert decide("human_handoff", 0, fallbacks_before_handoff=2) == EscalationDecision("human_handoff", "normal")
    assert decide("complaint", 0, fallbacks_before_handoff=2) == EscalationDecision("complaint", "high")
    assert decide("nlu_fallback", 1, fallbacks_before_handoff=2) is None
    assert decide("nlu_fallback", 2, fallbacks_before_handoff=2) == EscalationDecision("repeated_fallback", "normal")
    assert decide("out_of_scope", 3, fallbacks_before_handoff=3) == EscalationDecision("repeated_fallback", "normal")
    assert decide("bill_amount", 0, fallbacks_before_handoff=2) is None
    assert decide("human_handoff", 0, fallbacks_before_handoff=2, key_account=True) == EscalationDecision(
        "human_handoff", "high"
    )
