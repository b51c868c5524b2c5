"""`gridtalk nlu export-annotations` in process on the test database: the file, the counts it prints, the audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import NluAnnotation
from core.models.enums import Role
from core.nlu_review import NluReview
from core.staff.audit import AuditService
from gridtalk.cli import app
from tests.support.nlu_review import a_day_of_transcripts
from tests.support.staff import audit_rows, make_staff

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDTALK_DATABASE_URL", database_url)


async def test_export_annotations_prints_per_intent_and_merges(  # type: ignore[no-untyped-def]
    env: None, sessionmaker, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    t = await a_day_of_transcripts(sessionmaker, datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    await t.conversation("web-cli")
    await t.say("account", "户号3301234567欠费停电了吗", "nlu_fallback", 0.2)
    await t.say("greet", "你好", "nlu_fallback", 0.2)  # already training data: left out
    supervisor = await make_staff(sessionmaker, clock, "sup.cli", Role.SUPERVISOR)
    review = NluReview(clock, settings, AuditService(clock))
    async with session_scope(sessionmaker) as session:
        for name, intent in (("fallback", "report_fault"), ("account", "outage_status"), ("greet", "greet")):
            await review.annotate(session, t.ids[name], intent, supervisor)
        await review.annotate(session, t.ids["low"], "out_of_scope", supervisor)
    out = tmp_path / "annotations.yml"

    first = await asyncio.to_thread(runner.invoke, app, ["nlu", "export-annotations", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["out_of_scope\t1", "outage_status\t1", "report_fault\t1"]
    assert "3 examples written" in first.stderr and "1 left out" in first.stderr
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert {i["intent"]: i["examples"] for i in data["nlu"]}["outage_status"] == "- 户号0000000000欠费停电了吗\n"
    again = await asyncio.to_thread(runner.invoke, app, ["nlu", "export-annotations", "--out", str(out), "--all"])
    assert again.exit_code == 0 and again.stdout == "" and "0 examples written" in again.stderr
    assert yaml.safe_load(out.read_text(encoding="utf-8")) == data
    async with sessionmaker() as session:
        assert None not in set(await session.scalars(select(NluAnnotation.exported_at)))
    assert [(r.staff_id, r.client) for r in await audit_rows(sessionmaker, action="nlu.export")] == [
        (None, "cli"),
        (None, "cli"),
    ]
    helped = runner.invoke(app, ["nlu", "export-annotations", "--help"])
    assert helped.exit_code == 0 and "--all" in helped.output
