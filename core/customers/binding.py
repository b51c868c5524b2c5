"""Account binding policy (pure): when repeated failed verifications lock an identity out.

An identity is locked from the failed attempt that makes `max_failures` failures within `window`, for
`lock`. While locked, no attempt is checked (nor recorded), so the lock cannot be extended by guessing on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BindingPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(hours=1)
    lock: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.window <= timedelta(0) or self.lock <= timedelta(0):
            raise ValueError("window and lock must be positive")

    @property
    def lookback(self) -> timedelta:
        """How far back failures can matter to a lock that is still running."""
        return self.window + self.lock


def locked_until(failures: Iterable[datetime], now: datetime, policy: BindingPolicy) -> datetime | None:
    """When the lock ends, if the identity is locked at `now`; None when it may try."""
    times = sorted(failures)
    n = policy.max_failures
    until: datetime | None = None
    for i in range(n - 1, len(times)):
        if times[i] - times[i - n + 1] <= policy.window:
            candidate = times[i] + policy.lock
            if candidate > now and (until is None or candidate > until):
                until = candidate
    return until


def failures_left(failures: Iterable[datetime], now: datetime, policy: BindingPolicy) -> int:
    """How many more failures the identity may make before it is locked (counting the recent window)."""
    recent = sum(1 for at in failures if now - at <= policy.window)
    return max(0, policy.max_failures - recent)
