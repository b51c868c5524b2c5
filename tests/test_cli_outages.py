"""`gridtalk outage …`: fault outages from the command line, done as a staff user whose role must allow it
(the permission matrix, as in the API), in process (typer's runner) on the test database with the demo."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.models import AuditLog
from gridtalk.cli import app

runner = CliRunner()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, database_url: str, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", database_url)
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def invoke(*args: str) -> Any:
    result = runner.invoke(app, ["outage", *args])
    return result


def shown(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


async def test_a_fault_from_draft_to_restored_as_the_roles_allow(demo: None, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async def invoke(*args: str) -> Any:  # the command runs its own event loop: in a thread
        return await asyncio.to_thread(runner.invoke, app, ["outage", *args])

    fault = ["fault", "--feeder", "GS-F02", "--feeder", "XH-F01", "--reason", "10kV线路故障"]
    refused = await invoke(*fault, "--staff", "agent.li", "--estimate", later(hours=2), "--publish")
    assert refused.exit_code == 2 and "agent role may not" in refused.output  # drafting yes, publishing no

    draft = shown(await invoke(*fault, "--staff", "agent.li", "--estimate", later(hours=2)))
    assert (draft["kind"], draft["status"], draft["feeders"]) == ("unplanned", "draft", ["GS-F02", "XH-F01"])
    outage = str(draft["id"])
    assert (await invoke("publish", outage, "--staff", "agent.li")).exit_code == 2
    published = shown(await invoke("publish", outage, "--staff", "supervisor.zhou"))
    assert published["status"] == "published" and {s["stage"] for s in published["stages"]} == {"initial"}

    moved = shown(await invoke("estimate", outage, "--staff", "agent.li", "--at", later(hours=3)))
    assert moved["estimated_restoration_at"] > draft["estimated_restoration_at"]
    part = shown(await invoke("restore", outage, "--staff", "supervisor.zhou", "--feeder", "GS-F02"))
    assert (part["status"], part["feeders"]) == ("published", ["XH-F01"])
    done = shown(await invoke("restore", outage, "--staff", "supervisor.zhou"))
    assert done["status"] == "completed"

    async with sessionmaker() as session:
        rows = await session.execute(
            select(AuditLog.action, AuditLog.client).where(
                AuditLog.target_type == "outage", AuditLog.target_id == outage
            )
        )
        actions = [(action, client) for action, client in rows]
    assert [a for a, _ in actions] == [
        "outage.create",
        "outage.publish",
        "outage.update",
        "outage.complete",
        "outage.complete",
    ]
    assert {client for _, client in actions} == {"cli"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fault", "--staff", "agent.li", "--feeder", "GS-F02", "--reason", "r", "--estimate", "tomorrow"],
            "--estimate",
        ),
        (
            ["fault", "--staff", "agent.li", "--feeder", "GS-F02", "--reason", "r", "--estimate", "2026-12-01T18:00"],
            "offset",
        ),
        (
            [
                "fault",
                "--staff",
                "nobody",
                "--feeder",
                "GS-F02",
                "--reason",
                "r",
                "--estimate",
                "2099-01-01T00:00+08:00",
            ],
            "nobody",
        ),
        (
            [
                "fault",
                "--staff",
                "manager.wang",
                "--feeder",
                "GS-F02",
                "--reason",
                "r",
                "--estimate",
                "2099-01-01T00:00+08:00",
            ],
            "may not",
        ),
        (
            [
                "fault",
                "--staff",
                "agent.li",
                "--feeder",
                "NOPE",
                "--reason",
                "r",
                "--estimate",
                "2099-01-01T00:00+08:00",
            ],
            "NOPE",
        ),
        (["estimate", "999999", "--staff", "agent.li", "--at", "2099-01-01T00:00+08:00"], "999999"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(demo: None, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
