"""The dispatcher's units of work: a claimed row with its rendered message (Job), the rows of one tier in
flight (InFlight: a lower tier waits for the one above), and the result of a send (Outcome, with the values
recorded for it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import NoticeDelivery
from core.models.enums import DeliveryStatus, Tier
from core.notices.render import RenderedNotice


@dataclass(slots=True)
class Job:
    delivery: NoticeDelivery
    notice: RenderedNotice
    flight: InFlight | None = None


class InFlight:
    """Deliveries of one tier in flight (staff alerts, then key accounts, then everybody else). A lower
    tier starts only when every send of the tier above has finished, so that at any rate and concurrency
    every key-account notice goes before any residential one."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.remaining = 0
        self.done = asyncio.Event()
        self.done.set()

    def started(self) -> None:
        self.remaining += 1
        self.done.clear()

    def finished(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


@dataclass(slots=True)
class Outcome:
    delivery: NoticeDelivery
    status: DeliveryStatus
    at: datetime
    next_attempt_at: datetime | None = None
    error: str | None = None
    attempts: int | None = None  # None: the claim's count; one less when the attempt did not count
    holds_slot: bool = False  # a send's result: it holds a slot of the dispatcher's window until recorded

    def recorded(self) -> dict[str, Any]:
        """The values QueueRepository.record writes to the row (still held by the claim's token)."""
        return {
            "b_id": self.delivery.id,
            "b_token": self.delivery.claim_token,
            "b_attempts": self.delivery.attempts if self.attempts is None else self.attempts,
            "b_status": self.status,
            "b_next": self.next_attempt_at,
            "b_sent": self.at if self.status == DeliveryStatus.SENT else self.delivery.sent_at,
            "b_error": self.error,
        }
