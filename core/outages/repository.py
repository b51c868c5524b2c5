"""The SQL of outages. Works inside the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.db.repository import RepositoryBase
from core.models import Area, Feeder, Outage, UtilityAccount


class OutageRepository(RepositoryBase[Outage]):
    model = Outage

    async def get_full(self, outage_id: int) -> Outage | None:
        """The outage with its areas, feeders and accounts loaded (fresh from the database)."""
        return await self.session.scalar(
            select(Outage)
            .where(Outage.id == outage_id)
            .options(selectinload(Outage.areas), selectinload(Outage.feeders), selectinload(Outage.accounts))
            .execution_options(populate_existing=True)
        )

    async def existing_areas(self, codes: Collection[str]) -> set[str]:
        return set(await self.session.scalars(select(Area.code).where(Area.code.in_(list(codes)))))

    async def existing_feeders(self, codes: Collection[str]) -> set[str]:
        return set(await self.session.scalars(select(Feeder.code).where(Feeder.code.in_(list(codes)))))

    async def account_ids(self, numbers: Collection[str]) -> dict[str, int]:
        rows = await self.session.execute(
            select(UtilityAccount.account_number, UtilityAccount.id).where(
                UtilityAccount.account_number.in_(list(numbers))
            )
        )
        return {number: ident for number, ident in rows}

    async def account_numbers(self, ids: Collection[int]) -> dict[int, str]:
        rows = await self.session.execute(
            select(UtilityAccount.id, UtilityAccount.account_number).where(UtilityAccount.id.in_(list(ids)))
        )
        return {ident: number for ident, number in rows}
