"""The outage questions customers ask, answered as facts (core.outages.facts), for the dialogue's skills."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import UtilityAccount
from core.outages.facts import OutageFacts
from core.outages.repository import OutageRepository


class OutageQueries:
    """Read-only; built once per process, a session per call."""

    async def facts(self, session: AsyncSession, outage_id: int) -> OutageFacts:
        repo = OutageRepository(session)
        outage = await repo.get(outage_id)
        if outage is None:
            raise NotFound(f"no outage {outage_id}")
        return (await repo.facts([outage]))[0]

    async def current(self, session: AsyncSession, now: datetime, account: UtilityAccount | None) -> list[OutageFacts]:
        """Outages going on now at the account's address; without an account, every public one."""
        repo = OutageRepository(session)
        return await repo.facts(await repo.current(now, account))

    async def near(self, session: AsyncSession, now: datetime, account: UtilityAccount) -> list[OutageFacts]:
        """Outages going on now on another feeder of the account's district (its address is not on them)."""
        repo = OutageRepository(session)
        return await repo.facts(await repo.current_near(now, account))

    async def upcoming(
        self,
        session: AsyncSession,
        now: datetime,
        account: UtilityAccount | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OutageFacts]:
        """Planned outages to come at the account's address (or every public one), soonest first."""
        repo = OutageRepository(session)
        return await repo.facts(await repo.upcoming(now, account, since=since, until=until))
