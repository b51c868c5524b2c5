"""The `gridtalk` command line, in process (typer's runner) on the test database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridtalk.cli import app

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", database_url)


def test_every_command_has_help() -> None:
    for args in (
        ["run"],
        ["app"],
        ["api"],
        ["bot"],
        ["worker"],
        ["db", "upgrade"],
        ["demo", "load"],
        ["demo", "accounts"],
        ["nlu", "train"],
        ["nlu", "serve"],
        ["nlu", "parse"],
        ["nlu", "eval"],
        ["staff", "create"],
        ["staff", "disable"],
        ["staff", "reset-password"],
        ["outage", "fault"],
        ["outage", "estimate"],
        ["outage", "publish"],
        ["outage", "restore"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_bad_setting_stops_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_RASA_PORT", "99999")
    result = runner.invoke(app, ["demo", "accounts"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "gridtalk: invalid setting: GRIDTALK_RASA_PORT: Input should be less than or equal to 65535"
    ]


def test_bot_without_token_says_which_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDTALK_TELEGRAM_TOKEN", raising=False)
    result = runner.invoke(app, ["bot"])
    assert result.exit_code == 2
    assert "GRIDTALK_TELEGRAM_TOKEN is not set" in result.output


def test_demo_load_then_accounts_json(env: None) -> None:
    loaded = runner.invoke(app, ["demo", "load"])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(app, ["demo", "accounts", "--json"])
    assert result.exit_code == 0, result.output
    accounts = json.loads(result.stdout)
    assert {"account_number", "phone_last4", "segment", "area", "customer_name"} <= set(accounts[0])
    segments = [a["segment"] for a in accounts]
    assert segments.count("residential") >= 200
    assert segments.count("key_account") >= 5
    assert all(len(a["account_number"]) == 10 and a["account_number"].isdigit() for a in accounts)
    assert all(len(a["phone_last4"]) == 4 for a in accounts)


def test_demo_load_refuses_a_non_empty_database_unless_forced(env: None) -> None:
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0
    again = runner.invoke(app, ["demo", "load"])
    assert again.exit_code == 2
    assert "--force" in again.output
    forced = runner.invoke(app, ["demo", "load", "--force"])
    assert forced.exit_code == 0, forced.output


def test_staff_create_and_duplicate(env: None) -> None:
    args = [
        "staff",
        "create",
        "--username",
        "ops.zhang",
        "--password",
        "correct-horse",
        "--role",
        "supervisor",
    ]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.output
    assert "ops.zhang (supervisor) created" in created.output
    duplicate = runner.invoke(app, args)
    assert duplicate.exit_code == 2
    assert "already exists" in duplicate.output


@pytest.mark.parametrize(
    ("role", "password", "message"),
    [("boss", "correct-horse", "role must be one of"), ("agent", "short", "at least 8 characters")],
)
def test_staff_create_bad_input(env: None, role: str, password: str, message: str) -> None:
    result = runner.invoke(app, ["staff", "create", "--username", "u.one", "--password", password, "--role", role])
    assert result.exit_code == 2
    assert message in result.output


async def staff_row(sessionmaker, username: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from core.models import StaffUser

    async with sessionmaker() as session:
        return await session.scalar(select(StaffUser).where(StaffUser.username == username))


async def test_staff_disable_and_reset_password(env: None, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from sqlalchemy import select

    from core.models import AuditLog
    from core.security import verify_password

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    created = await asyncio.to_thread(
        invoke, "staff", "create", "--username", "ops.li", "--password", "first-pass", "--role", "agent"
    )
    assert created.exit_code == 0, created.output
    reset = await asyncio.to_thread(
        invoke, "staff", "reset-password", "--username", "ops.li", "--password", "second-pass"
    )
    assert reset.exit_code == 0, reset.output
    assert "password of staff user ops.li reset" in reset.output
    user = await staff_row(sessionmaker, "ops.li")
    assert user.password_hash.startswith("$argon2id$") and verify_password("second-pass", user.password_hash)

    disabled = await asyncio.to_thread(invoke, "staff", "disable", "--username", "ops.li")
    assert disabled.exit_code == 0, disabled.output
    assert "staff user ops.li disabled" in disabled.output
    assert (await staff_row(sessionmaker, "ops.li")).is_active is False
    again = await asyncio.to_thread(invoke, "staff", "disable", "--username", "ops.li")
    assert again.exit_code == 2 and "already disabled" in again.output

    async with sessionmaker() as session:
        rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [(r.action, r.staff_id, r.client) for r in rows] == [
        ("staff.create", None, "cli"),
        ("staff.password_reset", None, "cli"),
        ("staff.disable", None, "cli"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["staff", "disable", "--username", "nobody"], "no staff user named 'nobody'"),
        (["staff", "reset-password", "--username", "nobody", "--password", "long-enough"], "no staff user named"),
        (["staff", "reset-password", "--username", "ops.wu", "--password", "short"], "at least 8 characters"),
        (["staff", "disable"], "Missing option '--username'"),
    ],
)
def test_staff_commands_refuse_bad_input_with_exit_code_2(env: None, args: list[str], message: str) -> None:
    assert (
        runner.invoke(
            app, ["staff", "create", "--username", "ops.wu", "--password", "long-enough", "--role", "agent"]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


# --- personal data: logging mask, purge, customer export / erase, backup / restore ---------------------------


@pytest.fixture(autouse=True)
def _restore_logging():  # type: ignore[no-untyped-def]
    """Each command installs the log mask for its process; in this one test process, undo it afterwards."""
    import logging

    from core.logs import QUIET_LOGGERS

    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_privacy_commands_have_help() -> None:
    for args in (
        ["db", "purge-transcripts"],
        ["db", "backup"],
        ["db", "restore"],
        ["customer", "export"],
        ["customer", "erase"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_purge_transcripts_without_retention_keeps_everything(env: None) -> None:
    result = runner.invoke(app, ["db", "purge-transcripts"])
    assert result.exit_code == 0, result.output
    assert "GRIDTALK_RETENTION_DAYS is 0" in result.output


def test_purge_transcripts_dry_run_then_for_real(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTALK_RETENTION_DAYS", "30")
    dry = runner.invoke(app, ["db", "purge-transcripts", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would purge the text of 0 messages" in dry.output
    done = runner.invoke(app, ["db", "purge-transcripts"])
    assert done.exit_code == 0 and "purged the text of 0 messages" in done.output


async def test_customer_export_and_erase_by_account(env: None, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from sqlalchemy import select

    from core.models import AuditLog, Customer, UtilityAccount

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input)

    assert (await asyncio.to_thread(invoke, "demo", "load")).exit_code == 0
    listed = await asyncio.to_thread(invoke, "demo", "accounts", "--json")
    number = json.loads(listed.stdout)[0]["account_number"]

    exported = await asyncio.to_thread(invoke, "customer", "export", "--account", number)
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.stdout)
    assert number in [a["account_number"] for a in data["accounts"]] and data["customers"][0]["name"] != "erased"

    refused = await asyncio.to_thread(invoke, "customer", "erase", "--account", number, input="n\n")
    assert refused.exit_code == 1  # not confirmed: nothing erased
    async with sessionmaker() as session:
        account = await session.scalar(select(UtilityAccount).where(UtilityAccount.account_number == number))
        assert account is not None and account.phone
    erased = await asyncio.to_thread(invoke, "customer", "erase", "--account", number, "--yes")
    assert erased.exit_code == 0, erased.output
    assert "erased: 1 customers" in erased.output
    async with sessionmaker() as session:
        account = await session.scalar(select(UtilityAccount).where(UtilityAccount.account_number == number))
        assert account is not None and account.phone == ""
        customer = await session.get(Customer, account.customer_id)
        assert customer is not None and customer.name == "erased"
        rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [(r.action, r.staff_id, r.client) for r in rows] == [
        ("customer.export", None, "cli"),
        ("customer.erase", None, "cli"),
    ]

    unknown = await asyncio.to_thread(invoke, "customer", "export", "--web-session", "nope")
    assert unknown.exit_code == 2 and "no such web session" in unknown.output
    both = await asyncio.to_thread(invoke, "customer", "erase", "--account", number, "--telegram-user", "1", "--yes")
    assert both.exit_code == 2 and "exactly one of" in both.output


def test_db_backup_and_restore_round_trip_on_sqlite(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from core.db.migrate import upgrade

    db = tmp_path / "gridtalk.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", url)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO areas (code, name, name_en) VALUES ('XH', '西湖', 'Xihu')")
    saved = runner.invoke(app, ["db", "backup", str(tmp_path / "b.db")])
    assert saved.exit_code == 0, saved.output
    assert "backed up" in saved.output
    assert runner.invoke(app, ["db", "backup", str(tmp_path / "b.db")]).exit_code == 2  # no overwrite
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM areas")
    assert runner.invoke(app, ["db", "restore", str(tmp_path / "b.db")], input="n\n").exit_code == 1
    restored = runner.invoke(app, ["db", "restore", str(tmp_path / "b.db"), "--yes"])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(db) as conn:
        assert list(conn.execute("SELECT code FROM areas")) == [("XH",)]


def test_db_backup_on_postgresql_points_to_pg_dump(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/gridtalk")
    for args in (["db", "backup", str(tmp_path / "b.dump")], ["db", "restore", str(tmp_path / "b.dump"), "--yes"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "pg_dump" in result.output and "pg_restore" in result.output


def test_nlu_eval_refuses_a_missing_pipeline_and_a_calibration_without_folds(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["nlu", "eval", "--config", str(tmp_path / "nope.yml")])
    assert missing.exit_code == 2 and "no pipeline config at" in missing.output
    nothing = runner.invoke(app, ["nlu", "eval", "--folds", "0", "--apply-calibration"])
    assert nothing.exit_code == 2 and "--apply-calibration needs cross-validation" in nothing.output
