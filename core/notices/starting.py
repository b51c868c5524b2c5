"""Starting the stages of notice plans when their time comes (a worker job): each stage's audience is
resolved again, its rows brought in line with it and released to the dispatcher (core.notices.stage_rows),
and the earlier notices it supersedes skipped."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from core.models.enums import StageStatus
from core.notices.audiences import AudienceRepository
from core.notices.planning import Audiences, NoticePlanner
from core.notices.repository import OutboxRepository, StageRepository
from core.notices.stage_rows import sync_stage
from core.outages.planner import CANCEL, RESTORED, SUPERSEDED, Recipients, earlier_stages, recipients_of
from core.outages.repository import OutageRepository

log = logging.getLogger("gridtalk.notices")


class StageStarter:
    """Starts due stages with the audiences of the process's NoticePlanner. Built once per process; every
    call takes the caller's session and never commits."""

    def __init__(self, planner: NoticePlanner) -> None:
        self.planner = planner
        self.clock = planner.clock

    async def start_due_stages(self, session: AsyncSession) -> int:
        """Worker job: stages whose time to start sending has come get their audience resolved again and
        their rows released to the dispatcher. Returns how many stages started."""
        now = self.clock.now()
        started = 0
        outages = OutageRepository(session)
        resolved: dict[tuple[int, Recipients], Audiences] = {}  # both groups of a stage start together: once
        for stage in await StageRepository(session).to_start(now):
            outage = await outages.get(stage.outage_id)
            if outage is None or (outage.status != "published" and stage.stage not in (CANCEL, RESTORED)):
                stage.status = StageStatus.CANCELLED
                continue
            kind = recipients_of(stage.stage)
            if (outage.id, kind) not in resolved:
                scope = await outages.scope(outage.id)
                told = await AudienceRepository(session).told(outage.id) if kind != "all" else set()
                resolved[(outage.id, kind)] = await self.planner.audiences(session, scope, kind, told)
            people = resolved[(outage.id, kind)].groups[stage.audience]
            await sync_stage(session, outage, stage, people, now, self.planner.deadline(outage, stage.stage))
            skipped = await OutboxRepository(session).skip_superseded(
                outage.id,
                stage.audience,
                earlier_stages(stage.stage),
                stage.due_at,
                SUPERSEDED.format(stage=stage.stage),
            )
            if skipped:
                log.info(
                    "outage %s, %s: %d earlier notices superseded by %s",
                    outage.id,
                    stage.audience,
                    skipped,
                    stage.stage,
                )
            started += 1
        return started
