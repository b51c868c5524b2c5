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

When the kept places run out (the time limit, a write), the questions that arrive together do not all read them
again: the first reads, on its own session, and the others wait for what it reads (one read, not one per
question, at the minute's turn under a storm). Should that read fail or be cancelled, each waiting question reads
for itself.
"""

from __future__ import annotations

import asyncio
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


@dataclass(frozen=True, slots=True)
class _Reading:
    """A read of the places under way, which later questions wait for."""

    future: asyncio.Future[Places]
    generation: int


class PlacesCache:
    def __init__(self, ttl: float = TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._readings: dict[str, _Reading] = {}

    async def get(self, session: AsyncSession, load: Callable[[], Awaitable[Places]]) -> Places:
        """The places of the session's database: kept ones while fresh; else the ones a read under way brings;
        else `load()`ed and kept."""
        key = session.get_bind().engine.url.render_as_string(hide_password=True)
        while True:
            now = self.monotonic()
            entry = self._entries.get(key)
            if entry is not None and entry.generation == _generation and now - entry.read_at < self.ttl:
                return entry.places
            reading = self._readings.get(key)
            if reading is None or reading.generation != _generation or reading.future.get_loop() is not _loop():
                return await self._read(key, now, load)
            try:
                return await asyncio.shield(reading.future)  # this question's cancellation leaves the read alone
            except Exception:
                continue  # that read failed or was cancelled: read (or wait) again

    async def _read(self, key: str, now: float, load: Callable[[], Awaitable[Places]]) -> Places:
        generation = _generation  # as it was before the read: a write during the read makes it stale at once
        reading = _Reading(_loop().create_future(), generation)
        self._readings[key] = reading
        try:
            places = await load()
        except BaseException as exc:
            reading.future.set_exception(_ReadFailed(str(exc) or type(exc).__name__))
            reading.future.exception()  # nobody may be waiting: not an unretrieved exception
            raise
        finally:
            if self._readings.get(key) is reading:
                del self._readings[key]
        reading.future.set_result(places)
        self._entries[key] = _Entry(places, generation, now)
        return places


class _ReadFailed(Exception):
    """The read another question was making for the places failed or was cancelled."""


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


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
