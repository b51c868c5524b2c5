from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.dialogue.throttle import verdict, window_index


def test_verdicts() -> None:
    assert [verdict(n, 3) for n in range(1, 7)] == ["allow", "allow", "allow", "notify", "drop", "drop"]


def test_windows_are_aligned() -> None:
    at = datetime(2026, 11, 23, 9, 30, 59, tzinfo=UTC)
    assert window_index(at, 60) == window_index(at.replace(second=0), 60)
    assert window_index(at.replace(minute=31, second=0), 60) == window_index(at, 60) + 1


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=200))
def test_exactly_one_notice_per_window(limit: int, messages: int) -> None:
    verdicts = [verdict(n, limit) for n in range(1, messages + 1)]
    assert verdicts.count("allow") == min(limit, messages)
    assert verdicts.count("notify") == (1 if messages > limit else 0)
