"""The demo data set for tests, loaded by `load_demo` once per run, database and time, and written back
from what that load wrote each time after.

Most database tests start from the demo data, and a load through the product's loader (the dataset built,
then ORM objects flushed) is ≈ 0.6 s on SQLite and more on PostgreSQL, hundreds of times a run. The rows the
first load wrote are read back (every table, as Core rows) and kept; later loads into the emptied tables at
the same `now` insert them again in one statement per table (into an empty database: when a test wrote something
first, the loader runs and fits around it), and on PostgreSQL move each id sequence past
them, as the loader would have left it. The loader is deterministic for a given `now`
(tests/core/demo/test_demo.py), and tests/support/test_demo_snapshot.py checks that a written-back load is
row for row the loader's. Tests of the loader itself call `core.demo.load_demo`.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.db import session_scope
from core.demo import load_demo
from core.models import Base
from core.outages.places_cache import places_changed

KEPT = 4  # loads kept (by database and time): a run uses a few clocks; a test on the wall clock makes its own
CHUNK = 2000  # rows an INSERT

Rows = list[tuple[Table, list[dict[str, Any]]]]
_kept: OrderedDict[tuple[str, datetime], Rows] = OrderedDict()


async def load_demo_rows(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> None:
    """The demo data set at `now` in the (empty) database of `sessionmaker`, committed."""
    engine: AsyncEngine = sessionmaker.kw["bind"]
    key = (engine.url.render_as_string(hide_password=True), now)
    rows = _kept.get(key)
    empty = not await _any_row(engine)
    if rows is None or not empty:  # not empty: a test wrote something first, and the loader fits around it
        async with session_scope(sessionmaker) as session:
            await load_demo(session, now)
        if empty:
            async with engine.connect() as conn:
                _kept[key] = await read_rows(conn)
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
        return
    _kept.move_to_end(key)
    async with engine.begin() as conn:
        await write_rows(conn, rows)
    places_changed()  # written without the ORM: the districts and feeders kept in this process are not these


async def _any_row(engine: AsyncEngine) -> bool:
    """Whether any table holds a row (one query)."""
    query = select(or_(*(select(literal(1)).select_from(table).exists() for table in Base.metadata.sorted_tables)))
    async with engine.connect() as conn:
        return bool(await conn.scalar(query))


async def read_rows(conn: AsyncConnection) -> Rows:
    """Every row of every table that holds any, parents first."""
    found: Rows = []
    for table in Base.metadata.sorted_tables:
        primary = list(table.primary_key.columns)
        rows = [dict(row._mapping) for row in await conn.execute(select(table).order_by(*primary))]
        if rows:
            found.append((table, rows))
    return found


async def write_rows(conn: AsyncConnection, rows: Rows) -> None:
    for table, values in rows:
        for start in range(0, len(values), CHUNK):
            await conn.execute(table.insert(), values[start : start + CHUNK])
        if conn.dialect.name == "postgresql" and "id" in table.c and table.c.id.autoincrement is not False:
            highest = await conn.scalar(select(func.max(table.c.id)))
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value)"),
                {"table": table.name, "value": highest},
            )
