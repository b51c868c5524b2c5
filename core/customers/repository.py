from __future__ import annotations

from sqlalchemy import select

from core.db.repository import RepositoryBase
from core.models import Identity


class IdentityRepository(RepositoryBase[Identity]):
    model = Identity

    async def by_external_id(self, channel: str, external_id: str) -> Identity | None:
        return await self.session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )
