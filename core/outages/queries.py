"""The outage questions customers ask, answered as facts (core.outages.facts), for the dialogue's skills."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.conversations.memo import memo_of
from core.errors import NotFound
from core.models import UtilityAccount
from core.outages.facts import AreaFacts, FeederFacts, OutageFacts, Places
from core.outages.places import Place, place_by_key, place_in
from core.outages.places_cache import PlacesCache
from core.outages.repository import OutageRepository

CURRENT = "outages_current"  # the turn memo's kind (core.conversations.memo)


class OutageQueries:
    """Read-only; built once per process, a session per call. During a turn (core.conversations.memo) the
    outages going on now at an account are read once: a turn asks twice (the outage told first, then the
    answer) and writes no outage. The districts and feeders are kept in the process (core.outages.places_cache)."""

    def __init__(self, places: PlacesCache | None = None) -> None:
        self._places = places if places is not None else PlacesCache()

    async def facts(self, session: AsyncSession, outage_id: int) -> OutageFacts:
        repo = OutageRepository(session)
        outage = await repo.get(outage_id)
        if outage is None:
            raise NotFound(f"no outage {outage_id}")
        return (await repo.facts([outage]))[0]

    async def current(self, session: AsyncSession, now: datetime, account: UtilityAccount | None) -> list[OutageFacts]:
        """Outages going on now at the account's address; without an account, every public one."""
        memo = memo_of(session)
        key = (CURRENT, now, account.id if account is not None else None)
        if memo is not None and key in memo:
            return list(memo[key])
        repo = OutageRepository(session)
        outages = await repo.current(now, account)
        found = await repo.facts(outages, await self.kept_places(session) if outages else None)
        if memo is not None:
            memo[key] = found
        return list(found)

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

    async def place(self, session: AsyncSession, text: str) -> Place | None:
        """The district (or feeder, by a street on its lines) a message names, if any."""
        kept = await self.kept_places(session)
        return place_in(text, kept.areas, kept.feeders)

    async def places(self, session: AsyncSession) -> tuple[list[AreaFacts], list[FeederFacts]]:
        """Every district and feeder (the public page's map)."""
        kept = await self.kept_places(session)
        return list(kept.areas), list(kept.feeders)

    async def kept_places(self, session: AsyncSession) -> Places:
        """Every district and feeder, as the process keeps them (not to be changed)."""
        return await self._places.get(session, OutageRepository(session).places)

    async def place_by_key(self, session: AsyncSession, key: str) -> Place | None:
        """A place remembered by its key (Place.key)."""
        kept = await self.kept_places(session)
        return place_by_key(key, kept.areas, kept.feeders)

    async def at_place(
        self, session: AsyncSession, now: datetime, place: Place
    ) -> tuple[list[OutageFacts], list[OutageFacts]]:
        """The public outages going on now at a place, and the planned ones to come there."""
        now_there = [o for o in await self.current(session, now, None) if place.covers(o)]
        to_come = [o for o in await self.upcoming(session, now, None) if place.covers(o)]
        return now_there, to_come
