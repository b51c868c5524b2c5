"""The binding lockout (pure): five failures within an hour lock an identity for an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.customers.binding import BindingPolicy, failures_left, locked_until

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POLICY = BindingPolicy()


def minutes(*values: int) -> list[datetime]:
    return [T0 + timedelta(minutes=v) for v in values]


def test_the_fifth_failure_within_an_hour_locks_for_an_hour() -> None:
    failures = minutes(0, 10, 20, 30, 40)
    assert locked_until(failures[:4], failures[3], POLICY) is None
    assert failures_left(failures[:4], failures[3], POLICY) == 1
    assert locked_until(failures, failures[4], POLICY) == failures[4] + timedelta(hours=1)
    assert locked_until(failures, failures[4] + timedelta(minutes=59), POLICY) is not None
    assert locked_until(failures, failures[4] + timedelta(hours=1), POLICY) is None


def test_failures_spread_over_more_than_an_hour_do_not_lock() -> None:
    failures = minutes(0, 20, 40, 60, 80)
    assert locked_until(failures, failures[-1], POLICY) is None
    assert failures_left(failures, failures[-1], POLICY) == 1  # the first one has left the window


@given(st.lists(st.integers(min_value=0, max_value=600), max_size=20), st.integers(min_value=0, max_value=800))
def test_locked_exactly_when_some_five_failures_fit_in_an_hour_and_the_lock_runs(
    offsets: list[int], now_at: int
) -> None:
    failures = sorted(minutes(*offsets))
    now = T0 + timedelta(minutes=now_at)
    until = locked_until(failures, now, POLICY)
    expected = [
        failures[i] + POLICY.lock
        for i in range(4, len(failures))
        if failures[i] - failures[i - 4] <= POLICY.window and failures[i] + POLICY.lock > now
    ]
    assert until == (max(expected) if expected else None)
    if until is not None:
        assert now < until <= max(failures) + POLICY.lock


@given(st.lists(st.integers(min_value=0, max_value=59), min_size=0, max_size=4))
def test_fewer_than_five_failures_never_lock(offsets: list[int]) -> None:
    failures = minutes(*offsets)
    assert locked_until(failures, T0 + timedelta(minutes=59), POLICY) is None
    assert failures_left(failures, T0 + timedelta(minutes=59), POLICY) == 5 - len(failures)
