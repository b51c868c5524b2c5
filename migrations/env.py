"""Alembic environment (async). The URL comes from the caller (core.db.migrate) or from Settings."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from core.config import load_settings
from core.db.engine import make_engine
from core.models import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return url or load_settings().database_url


# Indexes with an expression (a DESC column): SQLite reflects them without it, so alembic cannot compare them
# there and would see a difference that is not one. PostgreSQL compares them.
EXPRESSION_INDEXES = frozenset({"ix_notice_deliveries_queue"})


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"

    def include_object(_object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
        return not (sqlite and type_ == "index" and name in EXPRESSION_INDEXES)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=sqlite,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
