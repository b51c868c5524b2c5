"""When a conversation goes to a person, and how its wait is judged (pure: no database, no clock).

A person takes over when the customer asks for one (human_handoff), complains, reports a hazard, presses
Problem on an outage notice, or the bot failed to understand them `fallbacks_before_handoff` times in a row.
Key accounts, hazards and complaints come first (priority high). The figures are settings
(`EscalationRules.from_settings`): the first-response target (an escalation without a staff reply after it
is overdue), how soon after it was resolved a new message reopens it, and the on-duty hours (outside them
the customer is told when a person will answer; the escalation waits for the morning queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.clock import daily_window_end, in_daily_window
from core.models.enums import EscalationReason, EscalationState, Priority

if TYPE_CHECKING:
    from core.config import Settings

PRIORITY_ORDER: dict[str, int] = {Priority.NORMAL: 0, Priority.HIGH: 1}
OPEN_STATES = (EscalationState.PENDING, EscalationState.ASSIGNED)
URGENT_REASONS = frozenset({EscalationReason.COMPLAINT, EscalationReason.HAZARD, EscalationReason.NOTICE_PROBLEM})


@dataclass(frozen=True, slots=True)
class EscalationDecision:
    reason: EscalationReason
    priority: Priority


def decide(
    intent: str,
    fallbacks_in_a_row: int,
    *,
    fallbacks_before_handoff: int,
    key_account: bool = False,
    hazard: bool = False,
) -> EscalationDecision | None:
    """Whether this message hands the conversation to a person, why, and how urgently."""
    reason: EscalationReason | None = None
    if hazard and intent == "report_fault":
        reason = EscalationReason.HAZARD
    elif intent == "complaint":
        reason = EscalationReason.COMPLAINT
    elif intent == "human_handoff":
        reason = EscalationReason.HUMAN_HANDOFF
    elif fallbacks_in_a_row >= fallbacks_before_handoff:
        reason = EscalationReason.REPEATED_FALLBACK
    if reason is None:
        return None
    return EscalationDecision(reason, priority_of(reason, key_account=key_account))


def priority_of(reason: EscalationReason, *, key_account: bool) -> Priority:
    return Priority.HIGH if key_account or reason in URGENT_REASONS else Priority.NORMAL


@dataclass(frozen=True, slots=True)
class EscalationRules:
    first_response: timedelta = timedelta(minutes=5)
    reopen_within: timedelta = timedelta(minutes=30)
    duty_start: time = time(8, 0)
    duty_end: time = time(20, 0)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationRules:
        return cls(
            first_response=timedelta(minutes=settings.escalation_first_response_minutes),
            reopen_within=timedelta(minutes=settings.escalation_reopen_minutes),
            duty_start=settings.duty_start,
            duty_end=settings.duty_end,
            tz=settings.tz,
        )

    def on_duty(self, at: datetime) -> bool:
        """Whether people answer at `at`: outside the off-duty window end..start (start == end: always)."""
        return not in_daily_window(at, self.duty_end, self.duty_start, self.tz)

    def next_on_duty(self, at: datetime) -> datetime:
        """`at` itself when on duty, else when the on-duty hours next begin (UTC)."""
        return daily_window_end(at, self.duty_end, self.duty_start, self.tz)

    def waiting_since(self, created_at: datetime, reopened_at: datetime | None) -> datetime:
        """When the wait started counting: the (re)opening, or the start of duty after it (a message at
        night waits for the morning queue without being overdue)."""
        return self.next_on_duty(reopened_at or created_at)

    def overdue(
        self,
        *,
        state: EscalationState,
        created_at: datetime,
        reopened_at: datetime | None,
        first_response_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Open, no staff reply since it (re)opened, and waiting longer than the first-response target."""
        if state not in OPEN_STATES:
            return False
        started = reopened_at or created_at
        if first_response_at is not None and first_response_at >= started:
            return False
        return now - self.waiting_since(created_at, reopened_at) >= self.first_response

    def reopens(self, *, state: EscalationState, resolved_at: datetime | None, now: datetime) -> bool:
        """A message soon after the escalation was resolved puts it back in the queue."""
        return (
            state == EscalationState.RESOLVED
            and resolved_at is not None
            and timedelta(0) <= now - resolved_at <= self.reopen_within
        )


def queue_key(priority: str, created_at: datetime, escalation_id: int) -> tuple[int, datetime, int]:
    """The queue's order: high priority first, then the longest waiting."""
    return (-PRIORITY_ORDER.get(priority, 0), created_at, escalation_id)
