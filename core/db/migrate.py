"""Run Alembic from code: `gridtalk db upgrade`, `gridtalk run` and the test suite build the schema this way."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate to `revision`. Blocking: call it from a thread when an event loop is running."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)
