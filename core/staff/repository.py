from __future__ import annotations

from sqlalchemy import select

from core.db.repository import RepositoryBase
from core.models import AuditLog, StaffUser


class StaffRepository(RepositoryBase[StaffUser]):
    model = StaffUser

    async def by_username(self, username: str) -> StaffUser | None:
        return await self.session.scalar(select(StaffUser).where(StaffUser.username == username))


class AuditRepository(RepositoryBase[AuditLog]):
    model = AuditLog
