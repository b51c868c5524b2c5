"""When a person takes over, and how a wait is judged (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.escalation.policy import EscalationDecision, EscalationRules, decide, queue_key
from core.models.enums import EscalationState

SH = ZoneInfo("Asia/Shanghai")


def local(hh: int, mm: int = 0, day: int = 29) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=SH)


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
    assert decide("report_fault", 0, fallbacks_before_handoff=2, hazard=True) == EscalationDecision("hazard", "high")
    assert decide("report_fault", 0, fallbacks_before_handoff=2) is None  # a plain fault report is a ticket


def test_on_duty_hours_and_the_next_start() -> None:
    rules = EscalationRules(duty_start=time(8), duty_end=time(20), tz=SH)
    assert rules.on_duty(local(8)) and rules.on_duty(local(19, 59)) and not rules.on_duty(local(20))
    assert rules.next_on_duty(local(9)) == local(9)
    assert rules.next_on_duty(local(22)) == local(8, day=30).astimezone(UTC)  # tonight: tomorrow morning
    assert rules.next_on_duty(local(3)) == local(8).astimezone(UTC)  # early morning: this morning
    always = EscalationRules(duty_start=time(0), duty_end=time(0), tz=SH)
    assert always.on_duty(local(3))
    night_shift = EscalationRules(duty_start=time(22), duty_end=time(6), tz=SH)
    assert night_shift.on_duty(local(23)) and night_shift.on_duty(local(5)) and not night_shift.on_duty(local(12))


def test_overdue_counts_from_the_start_of_duty_and_stops_at_the_first_reply() -> None:
    rules = EscalationRules(first_response=timedelta(minutes=5), duty_start=time(8), duty_end=time(20), tz=SH)
    pending = EscalationState.PENDING

    def overdue(created: datetime, now: datetime, **more: object) -> bool:
        values: dict[str, object] = {"state": pending, "reopened_at": None, "first_response_at": None}
        values.update(more)
        return rules.overdue(created_at=created, now=now, **values)  # type: ignore[arg-type]

    assert not overdue(local(10), local(10, 4)) and overdue(local(10), local(10, 5))
    assert not overdue(local(10), local(10, 30), first_response_at=local(10, 2))
    assert not overdue(local(10), local(11), state=EscalationState.RESOLVED)
    assert not overdue(local(23), local(7, day=30))  # at night it waits for the morning queue ...
    assert overdue(local(23), local(8, 5, day=30))  # ... and is overdue 5 minutes into duty
    # reopened: the old reply does not count, the new wait does
    assert overdue(local(10), local(11, 10), reopened_at=local(11), first_response_at=local(10, 2))


def test_a_message_soon_after_resolving_reopens() -> None:
    rules = EscalationRules(reopen_within=timedelta(minutes=30), tz=SH)
    resolved = EscalationState.RESOLVED
    assert rules.reopens(state=resolved, resolved_at=local(10), now=local(10, 30))
    assert not rules.reopens(state=resolved, resolved_at=local(10), now=local(10, 31))
    assert not rules.reopens(state=EscalationState.PENDING, resolved_at=None, now=local(10))


@given(st.lists(st.tuples(st.sampled_from(["normal", "high"]), st.integers(0, 10_000)), min_size=1, max_size=30))
def test_the_queue_serves_high_priority_first_then_the_longest_waiting(items: list[tuple[str, int]]) -> None:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    keyed = sorted(
        ((priority, start + timedelta(seconds=s), i) for i, (priority, s) in enumerate(items)),
        key=lambda e: queue_key(*e),
    )
    priorities = [p for p, _, _ in keyed]
    assert priorities == sorted(priorities, key=lambda p: p != "high")
    for a, b in itertools.pairwise(keyed):
        if a[0] == b[0]:
            assert (a[1], a[2]) <= (b[1], b[2])
