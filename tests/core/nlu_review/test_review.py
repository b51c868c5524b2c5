"""The "not understood" inbox on the database: which customer messages wait, annotating them (audited, the last
choice counts), and the export as Rasa training data (masked, merged, marked exported, audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import InvalidInput, NotFound
from core.models import NluAnnotation
from core.models.enums import Role
from core.nlu_review import CHOICES, NluReview, Reason
from core.staff.audit import AuditService
from tests.support.nlu_review import a_day_of_transcripts
from tests.support.staff import audit_rows, make_staff

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture
def review(clock: FrozenClock, settings: Settings) -> NluReview:
    return NluReview(clock, settings, AuditService(clock))


def test_the_choices_are_the_intents_of_the_nlu_domain_but_the_fallback() -> None:
    domain = yaml.safe_load((ROOT / "nlu" / "domain.yml").read_text(encoding="utf-8"))
    assert set(CHOICES) == set(domain["intents"]) - {"nlu_fallback"}
    assert "out_of_scope" in CHOICES and "nlu_fallback" not in CHOICES


async def test_fallback_low_confidence_and_escalated_messages_wait_newest_first(sessionmaker, review) -> None:  # type: ignore[no-untyped-def]
    t = await a_day_of_transcripts(sessionmaker, START)
    async with sessionmaker() as session:
        page = await review.waiting(session)
    assert [m.id for m in page.items] == [t.ids[n] for n in ("before_3", "before_2", "low", "fallback")]
    assert page.total == 4
    reasons = {m.id: m.reasons for m in page.items}
    assert reasons[t.ids["fallback"]] == (Reason.FALLBACK,)
    assert reasons[t.ids["low"]] == (Reason.LOW_CONFIDENCE,)
    assert reasons[t.ids["before_2"]] == reasons[t.ids["before_3"]] == (Reason.ESCALATED,)
    first = page.items[-1]
    assert (first.text, first.intent, first.confidence) == ("电表箱冒火花了咋整", "nlu_fallback", 0.31)
    async with sessionmaker() as session:
        second = await review.waiting(session, limit=3, offset=3)
    assert [m.id for m in second.items] == [t.ids["fallback"]] and second.total == 4


async def test_the_low_confidence_bar_is_a_setting(sessionmaker, clock: FrozenClock, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    t = await a_day_of_transcripts(sessionmaker, START)
    stricter = NluReview(clock, settings.model_copy(update={"nlu_review_confidence": 0.9}), AuditService(clock))
    async with sessionmaker() as session:
        page = await stricter.waiting(session)
    # now 0.88 and 0.80 are low too (they were already listed as escalated); 0.91+ are not
    assert {m.id for m in page.items} == {t.ids[n] for n in ("fallback", "low", "before_2", "before_3")}
    assert {m.id: m.reasons for m in page.items}[t.ids["before_2"]] == (Reason.LOW_CONFIDENCE, Reason.ESCALATED)


async def test_annotating_takes_a_message_out_audited_and_the_last_choice_counts(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, review
) -> None:
    t = await a_day_of_transcripts(sessionmaker, START)
    supervisor = await make_staff(sessionmaker, clock, "sup.nlu", Role.SUPERVISOR)
    async with session_scope(sessionmaker) as session:
        await review.annotate(session, t.ids["fallback"], "report_fault", supervisor, "10.0.0.9")
    async with session_scope(sessionmaker) as session:
        assert await review.count_waiting(session) == 3
        await review.annotate(session, t.ids["fallback"], "out_of_scope", supervisor)
        with pytest.raises(InvalidInput):
            await review.annotate(session, t.ids["low"], "nlu_fallback", supervisor)
        with pytest.raises(NotFound):
            await review.annotate(session, t.ids["out_fallback"], "greet", supervisor)  # the bot's own words
        with pytest.raises(NotFound):
            await review.annotate(session, 999_999, "greet", supervisor)
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(NluAnnotation)))
        assert [(a.message_id, a.intent, a.staff_id, a.exported_at) for a in rows] == [
            (t.ids["fallback"], "out_of_scope", supervisor.id, None)
        ]
        assert t.ids["fallback"] not in {m.id for m in (await review.waiting(session)).items}
    audit = await audit_rows(sessionmaker, action="nlu.annotate")
    assert [(r.staff_id, r.target_type, r.target_id, r.detail["intent"], r.detail["previous"]) for r in audit] == [
        (supervisor.id, "message", str(t.ids["fallback"]), "report_fault", None),
        (supervisor.id, "message", str(t.ids["fallback"]), "out_of_scope", "report_fault"),
    ]
    assert audit[0].client == "10.0.0.9" and audit[0].detail["bot_intent"] == "nlu_fallback"


async def test_export_writes_masked_rasa_yaml_merges_without_duplicates_and_marks_exported(  # type: ignore[no-untyped-def]
    sessionmaker, clock: FrozenClock, review, tmp_path: Path
) -> None:
    t = await a_day_of_transcripts(sessionmaker, START)
    await t.conversation("web-3")
    await t.say("phone", "我叫王小明，手机13812345678，户号3301234567，尾号5678", "nlu_fallback", 0.2)
    await t.say("email", "My name is John Brown, mail me at john.brown@example.org", "nlu_fallback", 0.2)
    await t.say("period", "2026年10月电费为啥这么高", "bill_amount", 0.3)
    await t.say("known", "绑定户号", "nlu_fallback", 0.3)
    supervisor = await make_staff(sessionmaker, clock, "sup.export", Role.SUPERVISOR)
    out = tmp_path / "data" / "annotations.yml"
    out.parent.mkdir()
    out.write_text(
        'version: "3.1"\nnlu:\n- intent: out_of_scope\n  examples: |\n    - 今天天气怎么样\n', encoding="utf-8"
    )
    chosen = {"phone": "bind_account", "email": "out_of_scope", "period": "bill_explain", "fallback": "report_fault"}
    chosen |= {"known": "bind_account"}
    async with session_scope(sessionmaker) as session:
        for name, intent in chosen.items():
            await review.annotate(session, t.ids[name], intent, supervisor)
    async with session_scope(sessionmaker) as session:
        report = await review.export(session, out, known=frozenset({"绑定户号"}))
    assert report.per_intent == {"bill_explain": 1, "bind_account": 1, "out_of_scope": 1, "report_fault": 1}
    assert report.skipped == 1  # 绑定户号 is training data already
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["version"] == "3.1"
    examples = {item["intent"]: item["examples"].splitlines() for item in data["nlu"]}
    assert examples == {
        "bill_explain": ["- 2026年10月电费为啥这么高"],
        "bind_account": ["- 我叫张三，手机00000000000，户号0000000000，尾号0000"],
        "out_of_scope": ["- 今天天气怎么样", "- My name is Alex Smith, mail me at user@example.com"],
        "report_fault": ["- 电表箱冒火花了咋整"],
    }
    text = out.read_text(encoding="utf-8")
    assert not any(secret in text for secret in ("13812345678", "3301234567", "5678", "王小明", "John", "john.brown"))
    async with sessionmaker() as session:
        assert all(a.exported_at == clock.now() for a in await session.scalars(select(NluAnnotation)))

    async with session_scope(sessionmaker) as session:  # nothing new: the file stays as it is
        again = await review.export(session, out)
    assert again.written == 0 and out.read_text(encoding="utf-8") == text
    async with session_scope(sessionmaker) as session:  # re-annotated: it moves, once
        await review.annotate(session, t.ids["fallback"], "out_of_scope", supervisor)
    async with session_scope(sessionmaker) as session:
        moved = await review.export(session, out)
    assert moved.per_intent == {"out_of_scope": 1}
    async with session_scope(sessionmaker) as session:
        everything = await review.export(session, out, everything=True, known=frozenset({"绑定户号"}))
    assert everything.written == 0
    merged = {i["intent"]: i["examples"].splitlines() for i in yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"]}
    assert "report_fault" not in merged and merged["out_of_scope"][-1] == "- 电表箱冒火花了咋整"
    lines = [line for items in merged.values() for line in items]
    assert len(lines) == len(set(lines)) == 5

    exports = await audit_rows(sessionmaker, action="nlu.export")
    assert [(r.staff_id, r.client, r.detail["per_intent"]) for r in exports] == [
        (None, "cli", report.per_intent),
        (None, "cli", {}),
        (None, "cli", {"out_of_scope": 1}),
        (None, "cli", {}),
    ]
