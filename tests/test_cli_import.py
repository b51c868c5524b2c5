"""`gridtalk import <kind> FILE`: the README's worked example from the command line, in process (typer's
runner) on the test database; a bad file refused with exit code 1 and its every error, masked."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.models import AuditLog, Bill, UtilityAccount
from gridtalk.cli import app
from tests.core.imports.importing import EXAMPLES, MANAGER, ORDER, Maker

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, sessionmaker: Maker) -> None:
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", database_url)


def gridtalk(*args: str | Path) -> Any:
    return runner.invoke(app, [str(arg) for arg in args])


async def cli(*args: str | Path) -> Any:
    """The command in a thread: it runs its own event loop."""
    return await asyncio.to_thread(gridtalk, *args)


async def make_manager() -> None:
    made = await cli("staff", "create", "--username", MANAGER, "--role", "account_manager", "--password", "pass-word-1")
    assert made.exit_code == 0, made.output


async def count(sessionmaker: Maker, model: type[Bill] | type[UtilityAccount] | type[AuditLog]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def test_help() -> None:
    result = gridtalk("import", "--help")
    assert result.exit_code == 0
    assert all(word in result.output for word in ("topology", "tariffs", "accounts", "contacts", "bills", "--dry-run"))


async def test_the_worked_example_loads_in_order_then_again_changes_nothing(env: None, sessionmaker: Maker) -> None:
    await make_manager()
    firsts = []
    for kind in ORDER:
        result = await cli("import", kind, EXAMPLES / f"{kind}.csv")
        assert result.exit_code == 0, result.output
        firsts.append(result.stdout.splitlines()[:2])
    assert firsts == [
        ["topology file topology.csv: 3 rows", "  areas: 2 created, 0 updated, 0 unchanged"],
        ["tariffs file tariffs.csv: 3 rows", "  tariffs: 3 created, 0 updated, 0 unchanged"],
        ["accounts file accounts.csv: 5 rows", "  accounts: 5 created, 0 updated, 0 unchanged"],
        ["contacts file contacts.csv: 3 rows", "  contacts: 3 created, 0 updated, 0 unchanged"],
        ["bills file bills.csv: 6 rows", "  bills: 6 created, 0 updated, 0 unchanged"],
    ]
    assert await count(sessionmaker, Bill) == 6

    dry = await cli("import", "accounts", EXAMPLES / "accounts.csv", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == [
        "accounts file accounts.csv: 5 rows (dry run: nothing written)",
        "  accounts: 0 would be created, 0 would be updated, 5 unchanged",
    ]
    again = await cli("import", "bills", EXAMPLES / "bills.csv")
    assert again.stdout.splitlines()[1] == "  bills: 0 created, 0 updated, 6 unchanged"
    assert await count(sessionmaker, AuditLog) == 1 + len(ORDER) + 1  # the staff user, each import, the second bills


async def test_a_bad_file_is_refused_with_exit_code_1_and_every_error(
    env: None, sessionmaker: Maker, tmp_path: Path
) -> None:
    await make_manager()
    for kind in ORDER[:2]:
        assert (await cli("import", kind, EXAMPLES / f"{kind}.csv")).exit_code == 0
    lines = (EXAMPLES / "accounts.csv").read_text().splitlines()
    lines[2] = lines[2].replace("139-0571-0002", "139-0571-000x")  # a bad phone on line 3
    lines[4] = lines[4].replace("manager.xu", "manager.nobody")  # an unknown manager on line 5
    lines.append(lines[1])  # line 7 repeats line 2's account
    bad = tmp_path / "accounts.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    report = tmp_path / "errors.csv"

    result = await cli("import", "accounts", bad, "--errors-csv", report)
    assert result.exit_code == 1
    assert result.stdout == ""
    said = result.stderr.splitlines()
    assert said[-4:] == [
        "line 3, column phone: not a phone number: digits, optionally a leading + and country code (spaces and dashes "
        "are ignored)",
        "line 5, column account_manager: staff user 'manager.nobody' does not exist or is disabled: create it with "
        "`gridtalk staff create`",
        "line 7, column account_number: the same account number already on line 2: each may appear once in a file",
        "accounts file accounts.csv refused: 3 error(s) in 6 rows; nothing was stored",
    ]
    assert f"[import] the errors are in {report}" in said
    with report.open(encoding="utf-8-sig", newline="") as written:
        assert [row[:2] for row in csv.reader(written)] == [
            ["line", "column"],
            ["3", "phone"],
            ["5", "account_manager"],
            ["7", "account_number"],
        ]
    assert "3309000001" not in result.output
    assert await count(sessionmaker, UtilityAccount) == 0


def test_progress_lines_and_a_missing_file(env: None, tmp_path: Path) -> None:
    result = gridtalk("import", "topology", EXAMPLES / "topology.csv", "--progress-every", "1", "--dry-run")
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if line.startswith("[import]")] == [
        "[import] 1 of 3 rows read",
        "[import] 2 of 3 rows read",
        "[import] 3 of 3 rows read",
        "[import] checking 3 rows against the database",
    ]
    missing = gridtalk("import", "topology", tmp_path / "nothing.csv")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert gridtalk("import", "meters", EXAMPLES / "topology.csv").exit_code == 2
