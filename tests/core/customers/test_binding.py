"""The binding lockout (pure): five failures within an hour lock an identity for an hour; ten within a day lock
an account number for new identities; twenty within an hour lock a client address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import Settings
from core.customers.binding import BindingPolicy, Limit, failures_left, locked_until

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


def test_the_policy_has_a_limit_per_identity_per_account_and_per_address() -> None:
    assert (POLICY.identity.max_failures, POLICY.identity.window, POLICY.identity.lock) == (
        5,
        timedelta(hours=1),
        timedelta(hours=1),
    )
    assert (POLICY.account.max_failures, POLICY.account.window, POLICY.account.lock) == (
        10,
        timedelta(hours=24),
        timedelta(hours=24),
    )
    assert POLICY.client.max_failures == 20 and POLICY.client.lookback == timedelta(hours=2)
    tenth = minutes(*range(0, 100, 10))  # ten failures on an account, one every 10 minutes
    assert locked_until(tenth[:9], tenth[8], POLICY.account) is None
    assert failures_left(tenth[:9], tenth[8], POLICY.account) == 1
    assert locked_until(tenth, tenth[9], POLICY.account) == tenth[9] + timedelta(hours=24)


@pytest.mark.parametrize("field", ["max_failures", "account_max_failures", "client_max_failures"])
def test_a_limit_below_one_failure_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="max_failures"):
        BindingPolicy(**{field: 0})  # type: ignore[arg-type]


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(
        binding_account_max_failures=7,
        binding_account_window_minutes=30,
        binding_account_lock_minutes=90,
        binding_client_max_failures=3,
        binding_client_window_minutes=5,
        binding_client_lock_minutes=15,
    )
    policy = BindingPolicy.from_settings(settings)
    assert policy.identity == Limit(5, timedelta(hours=1), timedelta(hours=1))
    assert policy.account == Limit(7, timedelta(minutes=30), timedelta(minutes=90))
    assert policy.client == Limit(3, timedelta(minutes=5), timedelta(minutes=15))
