"""Escalation to a person. For now: when to escalate (policy) and recording it; the queue comes later."""

from core.escalation.policy import EscalationDecision, decide
from core.escalation.service import EscalationService

__all__ = ["EscalationDecision", "EscalationService", "decide"]
