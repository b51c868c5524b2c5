"""Backup and restore of the SQLite default database with SQLite's online backup API (a consistent copy while
the api and worker are running). PostgreSQL is backed up with its own tools: pg_dump / pg_restore."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from core.errors import Conflict, InvalidInput, NotFound

PG_HINT = (
    "this database is PostgreSQL: back it up with `pg_dump --format=custom --file FILE DBNAME` and restore it "
    "with `pg_restore --clean --if-exists --dbname DBNAME FILE` (see docs/PRIVACY.md)"
)


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite database URL; refuses anything else (PostgreSQL: pg_dump / pg_restore)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise InvalidInput(PG_HINT)
    if not url.database or url.database == ":memory:":
        raise InvalidInput("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def backup(database_url: str, target: Path, *, overwrite: bool = False) -> int:
    """Copy the live database to `target` (readable by its owner only: it holds personal data). Returns the
    number of pages copied."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise NotFound(f"no database at {source}")
    if target.exists():
        if not overwrite:
            raise Conflict(f"{target} exists: give another file or --force")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)
    os.chmod(target, 0o600)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        return int(dst.execute("PRAGMA page_count").fetchone()[0])
    finally:
        src.close()
        dst.close()


def restore(database_url: str, backup_file: Path) -> None:
    """Replace the database's contents with those of `backup_file` (a file made by `backup`). Checked first:
    it must be an intact SQLite database with a gridtalk schema (alembic_version)."""
    target = sqlite_path(database_url)
    if not backup_file.is_file():
        raise NotFound(f"no backup file at {backup_file}")
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        try:
            ok = src.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            has_schema = (
                src.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='alembic_version'")
            ).fetchone()[0] == 1
        except sqlite3.DatabaseError:
            ok = has_schema = False
        if not (ok and has_schema):
            raise InvalidInput(f"{backup_file} is not a gridtalk SQLite backup")
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target)
        try:
            with dst:
                src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
