"""The SQL of the dispatcher's queue over the outbox rows: claim due deliveries (with a lease and a claim
token), renew the leases, record the send results, and what the dispatcher asks at claim time (started stages,
fault outages) and after a failure (another route still reaching the person). Never commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import NoticeDelivery, NoticeStage, Outage
from core.models.enums import DeliveryStatus, OutageKind, StageStatus
from core.notices.sql import chunks, dialect_name

# QueueRepository.record on PostgreSQL: every result of a flush in one UPDATE, from parallel arrays.
_RECORD_UNNEST = text(
    """
    UPDATE notice_deliveries AS d
    SET status = v.status, next_attempt_at = v.next_at, sent_at = v.sent_at, last_error = v.error,
        attempts = v.attempts, claim_token = NULL
    FROM unnest(
        CAST(:ids AS INTEGER[]), CAST(:tokens AS VARCHAR[]), CAST(:statuses AS VARCHAR[]),
        CAST(:nexts AS TIMESTAMPTZ[]), CAST(:sents AS TIMESTAMPTZ[]), CAST(:errors AS TEXT[]),
        CAST(:attempts AS INTEGER[])
    ) AS v(id, token, status, next_at, sent_at, error, attempts)
    WHERE d.id = v.id AND d.status = :sending AND d.claim_token = v.token
    """
)

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)  # 'sending' whose lease ran out: its worker died


class QueueRepository:
    """Delivery rows as the dispatcher works through them: claimed, their leases renewed, their results
    recorded."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, now: datetime, limit: int, channels: Collection[str], lease_until: datetime, token: str | None = None
    ) -> list[NoticeDelivery]:
        """Claim up to `limit` due deliveries on `channels`: 'sending' until `lease_until`, one more attempt,
        held by the claim `token` (only that claim may record their result).

        By tier (staff alerts, key accounts, everybody else), then priority, then due time. On PostgreSQL the
        rows are picked FOR UPDATE SKIP LOCKED, so several workers claim different rows; elsewhere the guarded
        UPDATE (status and time checked again in the statement itself) makes the claim atomic for one writer
        at a time, as SQLite has it.
        """
        if not channels:
            return []
        due = and_(
            NoticeDelivery.status.in_(CLAIMABLE),
            NoticeDelivery.next_attempt_at <= now,
            NoticeDelivery.channel.in_(list(channels)),
        )
        order = (NoticeDelivery.tier, NoticeDelivery.priority.desc(), NoticeDelivery.due_at, NoticeDelivery.id)
        pick = select(NoticeDelivery.id).where(due).order_by(*order).limit(limit)
        if dialect_name(self.session) == "postgresql":
            # Lock the rows first, then update exactly those: a LIMIT ... SKIP LOCKED subquery inside the
            # UPDATE may be scanned again by the planner and hand back further rows each time; a MATERIALIZED
            # CTE is evaluated once (and it is one round trip, not two).
            picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
            target: ColumnElement[bool] = NoticeDelivery.id == picked.c.id
        else:
            target = NoticeDelivery.id.in_(pick.scalar_subquery())
        claimed = await self.session.scalars(
            update(NoticeDelivery)
            .where(target, due)
            .values(
                status=DeliveryStatus.SENDING,
                next_attempt_at=lease_until,
                attempts=NoticeDelivery.attempts + 1,
                claim_token=token,
            )
            .returning(NoticeDelivery)
            .execution_options(synchronize_session=False)
        )
        rows = list(claimed)
        rows.sort(key=lambda d: (d.tier, -d.priority, d.due_at, d.id))
        return rows

    async def started_stages(self, outage_ids: Collection[int], now: datetime) -> list[tuple[int, str, str, datetime]]:
        """(outage id, stage, audience, due_at) of the stages of these outages that have started sending (not
        cancelled)."""
        if not outage_ids:
            return []
        rows = await self.session.execute(
            select(NoticeStage.outage_id, NoticeStage.stage, NoticeStage.audience, NoticeStage.due_at).where(
                NoticeStage.outage_id.in_(list(outage_ids)),
                NoticeStage.status != StageStatus.CANCELLED,
                NoticeStage.send_from <= now,
            )
        )
        return [(int(o), str(s), str(a), d) for o, s, a, d in rows]

    async def fault_outages(self, outage_ids: Collection[int]) -> set[int]:
        """Which of these outages are faults (their notices are urgent)."""
        if not outage_ids:
            return set()
        rows = await self.session.scalars(
            select(Outage.id).where(Outage.id.in_(list(outage_ids)), Outage.kind == OutageKind.UNPLANNED)
        )
        return set(rows)

    async def renew(self, tokens: Collection[str], lease_until: datetime) -> int:
        """Extend the lease of the rows these claims still hold ('sending')."""
        if not tokens:
            return 0
        result = await self.session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.claim_token.in_(list(tokens)), NoticeDelivery.status == DeliveryStatus.SENDING)
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def record(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Record send results in one statement per shape: each mapping has b_id, b_token (the claim that
        holds the row) and the new status, next_attempt_at, sent_at, last_error and attempts. Only rows still
        'sending' under that very claim change: an acknowledgement that raced ahead of the record stays, a
        row cancelled meanwhile stays cancelled, a row another worker claimed after the lease ran out is
        that worker's."""
        if not results:
            return
        if dialect_name(self.session) == "postgresql":  # one statement for the lot (not one execution per row)
            await self.session.execute(
                _RECORD_UNNEST,
                {
                    "sending": DeliveryStatus.SENDING.value,
                    "ids": [r["b_id"] for r in results],
                    "tokens": [r["b_token"] for r in results],
                    "statuses": [str(r["b_status"]) for r in results],
                    "nexts": [r["b_next"] for r in results],
                    "sents": [r["b_sent"] for r in results],
                    "errors": [r["b_error"] for r in results],
                    "attempts": [r["b_attempts"] for r in results],
                },
            )
            return
        table = NoticeDelivery.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("b_id"),
                table.c.status == DeliveryStatus.SENDING,
                table.c.claim_token == bindparam("b_token"),
            )
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next"),
                sent_at=bindparam("b_sent"),
                last_error=bindparam("b_error"),
                attempts=bindparam("b_attempts"),
                claim_token=None,
            )
        )
        for chunk in chunks(list(results), 1000):
            await self.session.execute(statement, list(chunk))

    async def still_reaching(self, row: NoticeDelivery) -> bool:
        """Whether another route of the same message to the same person (same subject, purpose and round) is
        sent or still on its way: then a failed route needs no last resort."""
        alive = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SENT)
        found = await self.session.scalar(
            select(NoticeDelivery.id)
            .where(
                NoticeDelivery.subject_kind == row.subject_kind,
                NoticeDelivery.subject_id == row.subject_id,
                NoticeDelivery.contact_key == row.contact_key,
                NoticeDelivery.stage == row.stage,
                NoticeDelivery.revision == row.revision,
                NoticeDelivery.id != row.id,
                NoticeDelivery.status.in_(alive),
            )
            .limit(1)
        )
        return found is not None

    async def waiting_on(self, channels: Collection[str], now: datetime) -> int:
        """Due deliveries on channels this worker cannot send on."""
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(NoticeDelivery)
                .where(
                    NoticeDelivery.status == DeliveryStatus.PENDING,
                    NoticeDelivery.next_attempt_at <= now,
                    NoticeDelivery.channel.in_(list(channels)),
                )
            )
            or 0
        )
