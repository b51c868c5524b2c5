"""The restart policy of `gridtalk run` (pure): how long to wait before starting a crashed process again, and
when to give up. A crash is counted against the crashes of the same process within a sliding window; each
one in the window doubles the delay (capped), and the `max_crashes`-th gives up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import Settings


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff: float  # seconds before the first restart
    backoff_max: float  # the longest wait between restarts
    max_crashes: int  # crashes within the window that make `gridtalk run` give up
    window: float  # seconds a crash is remembered for

    @classmethod
    def from_settings(cls, settings: Settings) -> RestartPolicy:
        return cls(
            backoff=settings.supervisor_backoff_seconds,
            backoff_max=settings.supervisor_backoff_max_seconds,
            max_crashes=settings.supervisor_max_crashes,
            window=settings.supervisor_crash_window_seconds,
        )

    def recent(self, crashes: Sequence[float], now: float) -> list[float]:
        """The crash times (monotonic seconds) still inside the window at `now`."""
        return [at for at in crashes if now - at < self.window]

    def delay(self, crashes_in_window: int) -> float:
        """Seconds to wait before the restart that follows the n-th crash in the window (n >= 1)."""
        exponent = max(0, crashes_in_window - 1)
        if exponent >= 64:  # 2**64 × anything positive is past any sane cap
            return self.backoff_max
        return min(self.backoff_max, self.backoff * 2.0**exponent)

    def gives_up(self, crashes_in_window: int) -> bool:
        return crashes_in_window >= self.max_crashes
