"""The SQL behind the gauges that are read from the database at scrape time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Escalation, NoticeDelivery

WAITING_ESCALATION_STATES = ("pending", "assigned")


@dataclass(frozen=True, slots=True)
class OutboxSnapshot:
    """What the outbox and the escalation queue hold at one moment."""

    deliveries: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (stage, channel, status) → rows
    lag_seconds: float = 0.0
    escalations: dict[str, int] = field(default_factory=dict)  # state → rows (pending, assigned)


class MetricsRepository:
    """Read-only counts for /metrics. Works inside the caller's session and never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delivery_counts(self) -> dict[tuple[str, str, str], int]:
        """Outbox rows by (stage, channel, status)."""
        query = select(NoticeDelivery.stage, NoticeDelivery.channel, NoticeDelivery.status, func.count()).group_by(
            NoticeDelivery.stage, NoticeDelivery.channel, NoticeDelivery.status
        )
        rows = await self.session.execute(query)
        return {(str(stage), str(channel), str(status)): int(n) for stage, channel, status, n in rows}

    async def oldest_due(self, now: datetime) -> datetime | None:
        """Since when the longest-waiting pending delivery could have been claimed (its next_attempt_at: the
        stage's fan-out start or a retry's time), among those due now; None when none is due."""
        return await self.session.scalar(
            select(func.min(NoticeDelivery.next_attempt_at)).where(
                NoticeDelivery.status == "pending", NoticeDelivery.next_attempt_at <= now
            )
        )

    async def escalations_waiting(self) -> dict[str, int]:
        """Escalations waiting for a person, by state; every waiting state is present (0 when none)."""
        query = (
            select(Escalation.state, func.count())
            .where(Escalation.state.in_(WAITING_ESCALATION_STATES))
            .group_by(Escalation.state)
        )
        counts = dict.fromkeys(WAITING_ESCALATION_STATES, 0)
        counts.update({str(state): int(n) for state, n in await self.session.execute(query)})
        return counts

    async def snapshot(self, now: datetime) -> OutboxSnapshot:
        oldest = await self.oldest_due(now)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return OutboxSnapshot(await self.delivery_counts(), lag, await self.escalations_waiting())
