"""Every "now" in gridtalk comes from a Clock, so tests (and `worker --once`) can move time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to: for tests and for replaying the worker tick by tick."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def in_daily_window(at: datetime, start: time, end: time, tz: ZoneInfo) -> bool:
    """Whether `at` falls in the local daily window start..end (across midnight when end < start; start ==
    end: an empty window)."""
    if start == end:
        return False
    local = at.astimezone(tz).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def daily_window_end(at: datetime, start: time, end: time, tz: ZoneInfo) -> datetime:
    """`at` itself outside the window; inside it, the moment it ends (UTC)."""
    if not in_daily_window(at, start, end, tz):
        return at
    local = at.astimezone(tz)
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:  # the evening part of a window across midnight
        day += timedelta(days=1)
    return max(datetime.combine(day, end, tzinfo=tz).astimezone(UTC), at)
