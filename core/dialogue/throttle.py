"""Per-user message throttling (pure arithmetic): a fixed window, and what to do with one more message.

Within a window of `window_seconds` a user may send `limit` messages; the first one over the limit gets a
polite notice, the rest of that window are dropped silently (so a flood is not answered with a flood).
The counters live in memory or in Redis (bot/throttling.py); the window comes from the injected clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

Verdict = Literal["allow", "notify", "drop"]


def window_index(now: datetime, window_seconds: int) -> int:
    """Which window `now` falls in (windows are aligned to the epoch)."""
    if window_seconds < 1:
        raise ValueError("window_seconds must be at least 1")
    return int(now.timestamp()) // window_seconds


def verdict(count: int, limit: int) -> Verdict:
    """`count` is this message's number within its window, counting from 1."""
    if count <= limit:
        return "allow"
    return "notify" if count == limit + 1 else "drop"
