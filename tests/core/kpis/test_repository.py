"""The KPI repository's SQL building blocks, run by the database itself: the week a time falls in (in a
timezone with daylight saving, around local Monday midnights on both sides of the clock changes) and the
seconds between two times. SQLite (a balanced CASE) and PostgreSQL (wall-clock arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.feedback.reports import Period, weeks_of
from core.kpis.repository import WeekGrid, seconds_between
from core.models.base import UTCDateTime

BERLIN = ZoneInfo("Europe/Berlin")  # clocks go forward on Sunday 29 Mar 2026 and back on Sunday 25 Oct 2026


def berlin(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def at(value: datetime) -> object:
    return literal(value, UTCDateTime())


async def test_the_week_of_a_time_follows_local_mondays_across_daylight_saving(session: AsyncSession) -> None:
    period = Period(berlin(3, 18, 12), berlin(11, 4, 12))  # a Wednesday in W12 to a Wednesday in W45
    weeks = weeks_of(period, BERLIN)
    grid = WeekGrid("Europe/Berlin", weeks[0].starts_on, [w.begins for w in weeks[1:]])
    dialect = session.get_bind().dialect.name
    mondays = [berlin(3, 23, 0), berlin(3, 30, 0), berlin(10, 19, 0), berlin(10, 26, 0), berlin(11, 2, 0)]
    instants = [period.start, *(m + d for m in mondays for d in (-timedelta(seconds=1), timedelta(0)))]
    expected = [0, 0, 1, 1, 2, 30, 31, 31, 32, 32, 33]  # W12 ... W45: a second before each Monday is the week before
    assert [w.label for w in weeks][:3] == ["2026-W12", "2026-W13", "2026-W14"] and len(weeks) == 34
    found = [await session.scalar(select(grid.index(at(t), dialect))) for t in instants]
    assert found == expected
    # the period's first week begins at its start, not at its Monday, but the rows before it are never asked for
    assert weeks[0].begins == period.start


async def test_seconds_between_two_times(session: AsyncSession) -> None:
    earlier = datetime(2026, 11, 23, 9, 30, 0, 250_000, tzinfo=UTC)
    delays = [timedelta(seconds=300), timedelta(minutes=5, milliseconds=1), timedelta(days=2, seconds=1)]
    found = [await session.scalar(select(seconds_between(at(earlier + d), at(earlier)))) for d in delays]
    assert found == [300.0, 300.001, 172801.0]
    assert await session.scalar(select(seconds_between(literal(None, UTCDateTime()), at(earlier)))) is None
