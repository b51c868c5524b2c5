"""`gridtalk application create | advance | list`: applications from the command line, done as a staff user whose
role must allow it (as in the API), in process (typer's runner) on the test database with the demo."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.models import AuditLog
from gridtalk.cli import app
from tests.support.applications import FACTORY, WATERWORKS, application_rows, demo_key_account

runner = CliRunner()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, database_url: str, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", database_url)
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0


async def invoke(*args: str) -> Any:  # the command runs its own event loop: in a thread
    return await asyncio.to_thread(runner.invoke, app, ["application", *args])


def shown(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_create_advance_reopen_and_list(demo: None, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    key = await demo_key_account(sessionmaker, WATERWORKS)
    create = ["create", "--account", key.number, "--kind", "capacity_increase", "--description", "新增水泵"]
    made = shown(await invoke(*create, "--staff", key.manager))
    assert (made["stage"], made["owner"], made["description"]) == ("accepted", key.manager, "新增水泵")
    app_id = str(made["id"])
    moved = shown(await invoke("advance", app_id, "--staff", key.manager, "--stage", "site_survey"))
    assert moved["stage"] == "site_survey" and moved["events"][-1]["kind"] == "advanced"
    no_note = await invoke("advance", app_id, "--staff", key.manager, "--stage", "accepted")
    assert no_note.exit_code == 2 and "needs a note" in no_note.output
    back = shown(await invoke("advance", app_id, "--staff", key.manager, "--stage", "accepted", "--note", "资料不全"))
    assert back["stage"] == "accepted" and back["events"][-1]["note"] == "资料不全"

    mine = shown(await invoke("list", "--staff", key.manager))  # manager.wang: his own key accounts only
    assert mine["total"] == 2 and {i["account_number"] for i in mine["items"]} >= {key.number}
    assert shown(await invoke("list", "--staff", "admin", "--overdue"))["total"] == 1
    assert shown(await invoke("list", "--staff", "admin", "--open", "--limit", "3"))["total"] == 8
    only = shown(await invoke("list", "--staff", "admin", "--account", key.number))
    assert [i["id"] for i in only["items"]] == [made["id"]]

    async with sessionmaker() as session:
        rows = await session.execute(
            select(AuditLog.action, AuditLog.client).where(AuditLog.target_type == "application")
        )
        actions = [(action, client) for action, client in rows]
    assert [a for a, _ in actions] == ["application.create", "application.advance", "application.reopen"]
    assert {client for _, client in actions} == {"cli"}
    assert len({r.revision for r in await application_rows(sessionmaker, made["id"])}) == 3  # each change told


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["list", "--staff", "agent.li"], "agent role may not"),
        (["list", "--staff", "nobody"], "nobody"),
        (["create", "--staff", "admin", "--account", "9999999999", "--kind", "ev_charger"], "no account"),
        (["create", "--staff", "admin", "--account", "9999999999", "--kind", "wind"], "--kind: one of"),
        (["advance", "1", "--staff", "admin", "--stage", "done"], "--stage: one of"),
        (["advance", "999999", "--staff", "admin", "--stage", "connected"], "no application 999999"),
    ],
)
async def test_refusals_are_one_line_and_exit_code_2(demo: None, args: list[str], says: str) -> None:
    result = await invoke(*args)
    assert result.exit_code == 2 and says in result.output


async def test_an_account_manager_cannot_touch_another_managers_key_account(demo: None, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    factory = await demo_key_account(sessionmaker, FACTORY)  # manager.chen's
    refused = await invoke("create", "--staff", "manager.wang", "--account", factory.number, "--kind", "ev_charger")
    assert refused.exit_code == 2 and "no account" in refused.output
    [theirs] = shown(await invoke("list", "--staff", "admin", "--account", factory.number))["items"]
    advance = ["advance", str(theirs["id"]), "--stage", "connected"]
    assert (await invoke(*advance, "--staff", "manager.wang")).exit_code == 2
    assert shown(await invoke(*advance, "--staff", "manager.chen"))["stage"] == "connected"
