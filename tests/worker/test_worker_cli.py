"""`gridtalk worker --once --at <time>`: replaying one tick at a chosen time (run for real in
tests/e2e/test_notices.py); here, what it refuses."""

from __future__ import annotations

from typer.testing import CliRunner

from gridtalk.cli import app

runner = CliRunner()


def test_at_needs_once_and_an_offset() -> None:
    without_once = runner.invoke(app, ["worker", "--at", "2026-12-10T07:30:00+08:00"])
    assert without_once.exit_code == 2 and "use it with --once" in without_once.output
    naive = runner.invoke(app, ["worker", "--once", "--at", "2026-12-10T07:30:00"])
    assert naive.exit_code == 2 and "UTC offset" in naive.output
    garbage = runner.invoke(app, ["worker", "--once", "--at", "next tuesday"])
    assert garbage.exit_code == 2 and "not an ISO 8601 time" in garbage.output
