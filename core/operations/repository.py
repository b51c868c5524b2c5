from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db.repository import RepositoryBase
from core.models import WorkerHeartbeat


class WorkerHeartbeatRepository(RepositoryBase[WorkerHeartbeat]):
    model = WorkerHeartbeat

    async def upsert(self, name: str, at: datetime) -> None:
        """Insert the row of `name`, or move its beat_at to `at` (one statement: no read-then-write race)."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(WorkerHeartbeat).values(name=name, beat_at=at)
        await self.session.execute(
            stmt.on_conflict_do_update(index_elements=[WorkerHeartbeat.name], set_={"beat_at": stmt.excluded.beat_at})
        )

    async def latest(self) -> datetime | None:
        """The most recent beat of any worker."""
        return await self.session.scalar(select(func.max(WorkerHeartbeat.beat_at)))

    async def delete_before(self, before: datetime) -> int:
        result = await self.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
