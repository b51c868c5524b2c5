"""The restart policy of `gridtalk run` (pure arithmetic): backoff doubling with a cap, crashes forgotten
after the window, giving up at the limit."""

from __future__ import annotations

import signal

import pytest

from core.config import Settings
from core.operations.restarts import RestartPolicy
from gridtalk.runner import describe_exit

POLICY = RestartPolicy(backoff=1.0, backoff_max=30.0, max_crashes=5, window=300.0)


def test_the_delay_doubles_with_each_crash_in_the_window_and_is_capped() -> None:
    assert [POLICY.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert POLICY.delay(0) == 1.0
    assert POLICY.delay(10_000) == 30.0  # no overflow


def test_crashes_older_than_the_window_are_forgotten() -> None:
    assert POLICY.recent([0.0, 100.0, 250.0], now=350.0) == [100.0, 250.0]
    assert POLICY.recent([0.0], now=300.0) == []  # exactly a window ago: out
    assert POLICY.recent([], now=1.0) == []


def test_it_gives_up_at_the_limit_within_the_window() -> None:
    assert [POLICY.gives_up(n) for n in range(1, 7)] == [False, False, False, False, True, True]
    # a process that crashes once every 10 minutes is restarted for ever, at the first delay
    crashes: list[float] = []
    for at in range(0, 6000, 600):
        crashes = [*POLICY.recent(crashes, at), float(at)]
        assert len(crashes) == 1 and not POLICY.gives_up(len(crashes)) and POLICY.delay(len(crashes)) == 1.0


def test_from_settings_and_the_defaults() -> None:
    policy = RestartPolicy.from_settings(Settings(env="test"))
    assert policy == RestartPolicy(backoff=1.0, backoff_max=30.0, max_crashes=5, window=300.0)
    # before giving up at the defaults: 1 + 2 + 4 + 8 s of waiting
    assert sum(policy.delay(n) for n in range(1, policy.max_crashes)) == 15.0


@pytest.mark.parametrize(
    ("code", "said"),
    [(1, "exited with code 1"), (0, "exited with code 0"), (-signal.SIGKILL, "was killed by signal SIGKILL")],
)
def test_exits_are_described_with_their_code_or_signal(code: int, said: str) -> None:
    assert describe_exit(code) == said
