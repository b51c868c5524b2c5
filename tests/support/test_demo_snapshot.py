"""The demo data written back by tests/support/demo_snapshot.py is the loader's, row for row, on both databases,
and the ids the application makes next follow on from it as they would after the loader."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import session_scope
from core.demo import DEMO_PASSWORD, load_demo
from core.models import Customer, Identity
from core.security import verify_password
from tests.conftest import empty_tables
from tests.support.demo_snapshot import load_demo_rows, read_rows

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


async def everything(engine: AsyncEngine) -> dict[str, list[dict[str, object]]]:
    """Every row; a staff user's password hash (salted afresh by each load) as whether the demo password
    checks against it."""
    async with engine.connect() as conn:
        found = {table.name: rows for table, rows in await read_rows(conn)}
    for user in found["staff_users"]:
        user["password_hash"] = verify_password(DEMO_PASSWORD, str(user["password_hash"]))
    return found


async def next_ids(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """The ids the next identity and customer get (written, then rolled back)."""
    async with sessionmaker() as session:
        identity = Identity(channel="web", external_id="next-id-probe", created_at=NOW)
        customer = Customer(name="probe", segment="residential", created_at=NOW)
        session.add_all([identity, customer])
        await session.flush()
        ids = (identity.id, customer.id)
        await session.rollback()
    return ids


async def test_a_written_back_load_is_the_loaders_row_for_row(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with session_scope(sessionmaker) as session:
        await load_demo(session, NOW)
    loaded, after_loader = await everything(engine), await next_ids(sessionmaker)
    assert loaded["staff_users"] and all(user["password_hash"] is True for user in loaded["staff_users"])
    await empty_tables(engine)
    for _ in range(2):  # the first may read the loader's rows (none kept yet for this database and time)
        await load_demo_rows(sessionmaker, NOW)
        written = await everything(engine)
        assert written.keys() == loaded.keys()
        assert all(written[name] == rows for name, rows in loaded.items())
        assert await next_ids(sessionmaker) == after_loader
        await empty_tables(engine)
    async with sessionmaker() as session:
        assert await session.scalar(select(Customer.id).limit(1)) is None
