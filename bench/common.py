"""What the benchmarks share: percentiles, and the scratch PostgreSQL databases they make and drop."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import make_engine


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scratch_url(url: str, database: str) -> str:
    """`url` naming the scratch database `database` on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def admin(url: str, *statements: str) -> None:
    """Statements outside a transaction (CREATE / DROP DATABASE), on the server's `postgres` database."""
    engine = make_engine(scratch_url(url, "postgres"))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
