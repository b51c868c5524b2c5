"""`gridtalk db backup` / `restore` on SQLite: a round trip through the online backup API; PostgreSQL refused."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from core.db.migrate import upgrade
from core.errors import Conflict, InvalidInput
from core.privacy.backup import backup, restore, sqlite_path


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT code, name FROM areas ORDER BY code"))


def test_backup_then_restore_brings_the_data_back(tmp_path: Path) -> None:
    db = tmp_path / "gridtalk.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO areas (code, name, name_en) VALUES ('XH', '西湖', 'Xihu')")
    target = tmp_path / "backups" / "one.db"
    assert backup(url, target) > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds personal data
    assert rows(target) == [("XH", "西湖")]
    with pytest.raises(Conflict):
        backup(url, target)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM areas")
        conn.execute("INSERT INTO areas (code, name, name_en) VALUES ('BJ', '滨江', 'Binjiang')")
    restore(url, target)
    assert rows(db) == [("XH", "西湖")]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_restore_refuses_what_is_not_a_gridtalk_backup(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridtalk.db'}"
    upgrade(url)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InvalidInput):
        restore(url, junk)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(InvalidInput):
        restore(url, empty)


def test_postgresql_is_pointed_to_pg_dump() -> None:
    with pytest.raises(InvalidInput) as refused:
        sqlite_path("postgresql+asyncpg://postgres@127.0.0.1:5432/gridtalk")
    assert "pg_dump" in refused.value.message and "pg_restore" in refused.value.message
