"""Every district and feeder, kept in the process between requests.

An outage question reads them all (the place a message names is matched against them, and an outage's
facts name its districts and feeders): two statements and every row of both tables, each time. They change
only when the utility's topology is imported (or the demo data loaded), so a process keeps what it read:

- a write to an area or a feeder through the ORM in this process (the topology import, the demo loader, a
  test) is noticed at its flush and again at its commit (mapper and session events), and the next read loads
  them afresh;
- another process's write (a `gridtalk import topology` beside a running api, a second api) is seen at the
  latest TTL_SECONDS after the places were read: a newly imported street is matched a minute later at worst,
  while an outage's own scope (feeder codes) never depends on this cache.

One cache per database (the engine's URL), so the same service object serves any session it is given. The time
limit runs on the process's monotonic clock: it is about real elapsed time, not the domain clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from core.models import Area, Feeder
from core.outages.facts import Places

TTL_SECONDS = 60.0  # how stale another process's topology import may be seen
_WROTE = "gridtalk.places_written"

_generation = 0  # changes whenever this process wrote an area or a feeder


def places_changed() -> None:
    """Forget the places every cache of this process holds (a write they cannot see: raw SQL, a test's
    emptied tables)."""
    global _generation
    _generation += 1


@dataclass(frozen=True, slots=True)
class _Entry:
    places: Places
    generation: int
    read_at: float


class PlacesCache:
    def __init__(self, ttl: float = TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._entries: dict[str, _Entry] = {}

    async def get(self, session: AsyncSession, load: Callable[[], Awaitable[Places]]) -> Places:
        """The places of the session's database: kept ones while fresh, else `load()`ed and kept."""
        key = session.get_bind().engine.url.render_as_string(hide_password=True)
        now = self.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == _generation and now - entry.read_at < self.ttl:
            return entry.places
        generation = _generation  # as it was before the read: a write during the read makes it stale at once
        places = await load()
        self._entries[key] = _Entry(places, generation, now)
        return places


@event.listens_for(Area, "after_insert")
@event.listens_for(Area, "after_update")
@event.listens_for(Area, "after_delete")
@event.listens_for(Feeder, "after_insert")
@event.listens_for(Feeder, "after_update")
@event.listens_for(Feeder, "after_delete")
def _written(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    places_changed()  # this process's readers see the write from now on (in this transaction or after it)
    session = object_session(target)
    if session is not None:
        session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        # committed: a read between the flush and the commit kept the old places; rolled back: a read inside the
        # transaction kept places that never were. Either way, forget them.
        places_changed()
