"""The rows of one stage of a notice plan brought in line with its audience: whoever joined gets rows,
whoever left has their pending rows cancelled (LEFT_AUDIENCE), and the rows are released to the dispatcher
once the stage's start has come. Used when a plan is re-planned and when a stage starts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import NoticeStage, Outage
from core.models.enums import DeliveryStatus, StageStatus
from core.notices.outbox import DeliveryDraft, Recipient, Subject
from core.notices.repository import OutboxRepository

log = logging.getLogger("gridtalk.notices")

LEFT_AUDIENCE = "no longer in the audience"


async def sync_stage(
    session: AsyncSession,
    outage: Outage,
    stage: NoticeStage,
    recipients: list[Recipient],
    now: datetime,
    deadline: datetime | None,
) -> None:
    """Make the stage's rows match `recipients`; when its start has come, release them for sending."""
    outbox = OutboxRepository(session)
    release = stage.send_from <= now
    if release:
        stage.status = StageStatus.RESOLVED
        stage.resolved_at = now
    release_at = stage.send_from if release else None
    existing = {(d.contact_key, d.channel): d for d in await outbox.stage_rows(stage)}
    subject = Subject.outage(outage.id)
    wanted: set[tuple[str, str]] = set()
    new: list[DeliveryDraft] = []
    updates: list[dict[str, Any]] = []
    for person in recipients:
        for draft in person.drafts(
            subject,
            stage.stage,
            due_at=stage.due_at,
            release_at=release_at,
            revision=stage.revision,
            deadline=deadline,
        ):
            key = (str(person.key), draft.route.channel)
            wanted.add(key)
            row = existing.get(key)
            if row is None:
                new.append(draft)
            elif row.status == DeliveryStatus.PENDING or (
                row.status == DeliveryStatus.CANCELLED and row.last_error == LEFT_AUDIENCE
            ):
                fresh = draft.row(now)
                values = {name: fresh[name] for name in DeliveryDraft.MUTABLE}
                values["status"] = DeliveryStatus.PENDING
                values["last_error"] = None if row.status == DeliveryStatus.CANCELLED else row.last_error
                if any(getattr(row, name) != value for name, value in values.items()):
                    updates.append({"id": row.id, **values})
    gone = [
        {"id": row.id, "status": DeliveryStatus.CANCELLED, "last_error": LEFT_AUDIENCE, "next_attempt_at": None}
        for key, row in existing.items()
        if key not in wanted and row.status == DeliveryStatus.PENDING
    ]
    await outbox.store(new, now)
    await outbox.update_rows(updates)
    await outbox.update_rows(gone)
    if release_at is not None:
        await outbox.release_stage(stage, release_at)
    stage.recipients = len(recipients)
    if gone:
        log.info("stage %s of outage %s: %d no longer in the audience", stage.stage, stage.outage_id, len(gone))
