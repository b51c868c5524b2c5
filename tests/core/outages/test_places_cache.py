"""The districts and feeders a process keeps (core.outages.places_cache): read once, read again after this
process writes one, after the time limit for another process's writes, and never trusted for an outage that
names a place they lack."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import session_scope
from core.models import Area, Feeder, Outage, OutageFeeder
from core.models.enums import OutageKind, OutageStatus
from core.outages.facts import Places
from core.outages.places_cache import TTL_SECONDS, PlacesCache
from core.outages.queries import OutageQueries
from core.outages.repository import OutageRepository

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticking() -> Ticking:
    return Ticking()


@pytest.fixture
def queries(ticking: Ticking) -> OutageQueries:
    return OutageQueries(PlacesCache(monotonic=ticking))


@pytest.fixture
async def places(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with session_scope(sessionmaker) as session:
        session.add(Area(code="XH", name="西湖区", name_en="Xihu District"))
        session.add(Feeder(code="XH-F01", area_code="XH", name="文三线", lines="文三路"))


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def codes(sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries) -> tuple[list[str], list[str]]:
    async with sessionmaker() as session:
        areas, feeders = await queries.places(session)
    return [a.code for a in areas], [f.code for f in feeders]


async def raw_feeder(engine: AsyncEngine, code: str) -> None:
    """A feeder written as another process would: nothing in this process hears of it."""
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO feeders (code, area_code, name, lines) VALUES (:code, 'XH', '古荡线', '天目山路')"),
            {"code": code},
        )


async def test_read_once_then_kept(
    places: None, sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries, statements: list[str]
) -> None:
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    read = len(statements)
    assert read == 2  # the districts, the feeders
    for _ in range(3):
        assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    assert len(statements) == read


async def test_a_write_in_this_process_is_seen_at_once(
    places: None, sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries
) -> None:
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    async with session_scope(sessionmaker) as session:
        session.add(Feeder(code="XH-F02", area_code="XH", name="古荡线", lines="天目山路"))
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01", "XH-F02"])
    async with session_scope(sessionmaker) as session:
        area = await session.get(Area, "XH")
        assert area is not None
        area.name_en = "Xihu"
    async with sessionmaker() as session:
        areas, _ = await queries.places(session)
    assert [a.name_en for a in areas] == ["Xihu"]
    async with session_scope(sessionmaker) as session:
        feeder = await session.get(Feeder, "XH-F02")
        await session.delete(feeder)
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])


async def test_a_read_between_a_flush_and_its_commit_is_not_kept(
    places: None, sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries
) -> None:
    async with session_scope(sessionmaker) as writer:
        writer.add(Feeder(code="XH-F02", area_code="XH", name="古荡线", lines="天目山路"))
        await writer.flush()
        if writer.get_bind().dialect.name == "postgresql":  # SQLite's one writer would wait on the other reader
            assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])  # not committed yet
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01", "XH-F02"])


async def test_places_read_inside_a_write_that_is_rolled_back_are_not_kept(
    places: None, sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries
) -> None:
    async with sessionmaker() as writer:
        writer.add(Feeder(code="XH-F02", area_code="XH", name="古荡线", lines="天目山路"))
        await writer.flush()
        _, feeders = await queries.places(writer)  # its own transaction sees its write
        assert [f.code for f in feeders] == ["XH-F01", "XH-F02"]
        await writer.rollback()
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])


async def test_another_process_write_is_seen_after_the_time_limit(
    places: None,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    queries: OutageQueries,
    ticking: Ticking,
) -> None:
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    await raw_feeder(engine, "XH-F02")
    ticking.now += TTL_SECONDS - 1
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    ticking.now += 1
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01", "XH-F02"])


async def test_an_outage_naming_a_feeder_the_kept_places_lack_is_told_in_full(
    places: None, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], queries: OutageQueries
) -> None:
    assert await codes(sessionmaker, queries) == (["XH"], ["XH-F01"])
    await raw_feeder(engine, "XH-F02")  # imported by another process a moment ago
    async with session_scope(sessionmaker) as session:
        outage = Outage(
            kind=OutageKind.UNPLANNED,
            status=OutageStatus.PUBLISHED,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=2),
            estimated_restoration_at=None,
            created_at=NOW,
            feeders=[OutageFeeder(feeder_code="XH-F02")],
        )
        session.add(outage)
    async with sessionmaker() as session:
        kept = await queries.kept_places(session)
        assert [f.code for f in kept.feeders] == ["XH-F01"]  # still the kept places
        (facts,) = await OutageRepository(session).facts([outage], kept)
    assert [f.code for f in facts.feeders] == ["XH-F02"]
    assert [(a.code, a.name) for a in facts.areas] == [("XH", "西湖区")]


class SlowLoad:
    """A read of the places that takes until the test lets it finish, counting how often it is made."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail_first = False

    async def __call__(self) -> Places:
        self.calls += 1
        await self.release.wait()
        if self.fail_first and self.calls == 1:
            raise ConnectionError("the database went away")
        return Places.of([], [])


async def test_questions_arriving_together_wait_for_one_read(
    sessionmaker: async_sessionmaker[AsyncSession], ticking: Ticking
) -> None:
    cache, load = PlacesCache(monotonic=ticking), SlowLoad()
    async with sessionmaker() as session:
        questions = [asyncio.create_task(cache.get(session, load)) for _ in range(20)]
        await asyncio.sleep(0.01)
        load.release.set()
        got = await asyncio.gather(*questions)
        assert load.calls == 1 and all(places is got[0] for places in got)
        ticking.now += TTL_SECONDS
        load.release.clear()
        again = [asyncio.create_task(cache.get(session, load)) for _ in range(5)]
        await asyncio.sleep(0.01)
        load.release.set()
        await asyncio.gather(*again)
        assert load.calls == 2  # the time limit ran out: one more read, for all five


async def test_a_failed_read_leaves_the_waiting_questions_to_read_for_themselves(
    sessionmaker: async_sessionmaker[AsyncSession], ticking: Ticking
) -> None:
    cache, load = PlacesCache(monotonic=ticking), SlowLoad()
    load.fail_first = True
    async with sessionmaker() as session:
        first = asyncio.create_task(cache.get(session, load))
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(cache.get(session, load)) for _ in range(3)]
        await asyncio.sleep(0.01)
        load.release.set()
        with pytest.raises(ConnectionError):
            await first
        assert all(isinstance(p, Places) for p in await asyncio.gather(*waiting))
    assert load.calls == 2  # the failed read, then one of the waiting questions' (the others waited for it)


async def test_a_cancelled_read_leaves_the_waiting_questions_to_read_for_themselves(
    sessionmaker: async_sessionmaker[AsyncSession], ticking: Ticking
) -> None:
    cache, load = PlacesCache(monotonic=ticking), SlowLoad()
    async with sessionmaker() as session:
        first = asyncio.create_task(cache.get(session, load))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(cache.get(session, load))
        await asyncio.sleep(0.01)
        first.cancel()  # the customer who asked first went away
        await asyncio.sleep(0.01)
        load.release.set()
        assert isinstance(await waiting, Places)
        with pytest.raises(asyncio.CancelledError):
            await first
    assert load.calls == 2
