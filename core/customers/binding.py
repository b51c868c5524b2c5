"""Account binding policy (pure): when repeated failed verifications lock binding out.

Failures are counted three ways, each with its own limit, window and lock (a `Limit`):

- per identity (a Telegram user, a web chat session): that identity may not try again;
- per account number (from every identity, every channel): nobody NEW may bind that account — identities
  already bound to it keep working, and the customer is told to verify another way (the hotline);
- per client address (the web chat's request address; Telegram has none): that address may not try again.

A key is locked from the failed attempt that makes `max_failures` failures within `window`, for `lock`. While
locked, no attempt is checked (nor recorded), so a lock cannot be extended by guessing on. With the defaults a
guesser gets at most 10 guesses at one account per day, however many sessions or addresses they use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from core.config import Settings

LockedBy = Literal["identity", "account", "client"]


class LimitLike(Protocol):
    @property
    def max_failures(self) -> int: ...
    @property
    def window(self) -> timedelta: ...
    @property
    def lock(self) -> timedelta: ...


@dataclass(frozen=True, slots=True)
class Limit:
    """`max_failures` failures within `window` lock for `lock`."""

    max_failures: int
    window: timedelta
    lock: timedelta

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.window <= timedelta(0) or self.lock <= timedelta(0):
            raise ValueError("window and lock must be positive")

    @property
    def lookback(self) -> timedelta:
        """How far back failures can matter to a lock that is still running."""
        return self.window + self.lock


@dataclass(frozen=True, slots=True)
class BindingPolicy:
    """The identity's limit (max_failures, window, lock), the account number's and the client address's."""

    max_failures: int = 5
    window: timedelta = timedelta(hours=1)
    lock: timedelta = timedelta(hours=1)
    account_max_failures: int = 10
    account_window: timedelta = timedelta(hours=24)
    account_lock: timedelta = timedelta(hours=24)
    client_max_failures: int = 20
    client_window: timedelta = timedelta(hours=1)
    client_lock: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        _ = (self.identity, self.account, self.client)  # each Limit checks itself

    @property
    def identity(self) -> Limit:
        return Limit(self.max_failures, self.window, self.lock)

    @property
    def account(self) -> Limit:
        return Limit(self.account_max_failures, self.account_window, self.account_lock)

    @property
    def client(self) -> Limit:
        return Limit(self.client_max_failures, self.client_window, self.client_lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> BindingPolicy:
        return cls(
            max_failures=settings.binding_max_failures,
            window=timedelta(minutes=settings.binding_window_minutes),
            lock=timedelta(minutes=settings.binding_lock_minutes),
            account_max_failures=settings.binding_account_max_failures,
            account_window=timedelta(minutes=settings.binding_account_window_minutes),
            account_lock=timedelta(minutes=settings.binding_account_lock_minutes),
            client_max_failures=settings.binding_client_max_failures,
            client_window=timedelta(minutes=settings.binding_client_window_minutes),
            client_lock=timedelta(minutes=settings.binding_client_lock_minutes),
        )

    @property
    def lookback(self) -> timedelta:
        """How far back an identity's failures can matter to a lock that is still running."""
        return self.window + self.lock


def locked_until(failures: Iterable[datetime], now: datetime, policy: LimitLike) -> datetime | None:
    """When the lock ends, if the key is locked at `now`; None when it may try."""
    times = sorted(failures)
    n = policy.max_failures
    until: datetime | None = None
    for i in range(n - 1, len(times)):
        if times[i] - times[i - n + 1] <= policy.window:
            candidate = times[i] + policy.lock
            if candidate > now and (until is None or candidate > until):
                until = candidate
    return until


def failures_left(failures: Iterable[datetime], now: datetime, policy: LimitLike) -> int:
    """How many more failures the key may make before it is locked (counting the recent window)."""
    recent = sum(1 for at in failures if now - at <= policy.window)
    return max(0, policy.max_failures - recent)
