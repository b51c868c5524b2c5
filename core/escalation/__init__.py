"""Escalation to a person. For now: when to escalate (policy) and recording it; the queue comes later."""

from core.escalation.policy import EscalationDecision, decide
from core.escalation.service import record_escalation

__all__ = ["EscalationDecision", "decide", "record_escalation"]
