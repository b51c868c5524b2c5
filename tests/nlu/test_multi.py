"""Two questions in one message: where a message is cut, and which parsed parts count as questions."""

from __future__ import annotations

import pytest

from core.ports import NluResult
from nlu.multi import questions, split_questions


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("查下这个月电费，顺便问下最近有没有计划停电", ["查下这个月电费", "最近有没有计划停电"]),
        ("电费多少?怎么交?", ["电费多少?", "怎么交?"]),
        (
            "how much is my bill and when is the next planned outage",
            ["how much is my bill", "when is the next planned outage"],
        ),
        ("How do I pay? Also, is there an outage now?", ["How do I pay?", "is there an outage now?"]),
        ("what are the peak and valley hours", ["what are the peak and valley hours"]),  # one question with "and"
        ("余额还剩多少,上个月用电多少度", ["余额还剩多少", "上个月用电多少度"]),  # Chinese clauses
        ("下个月有计划停电吗 停电的话提前告诉我", ["下个月有计划停电吗", "停电的话提前告诉我"]),
        (
            "why is my bill so high this month. I want to file a complaint",
            ["why is my bill so high this month", "I want to file a complaint"],
        ),
        ("嗯。电费多少", ["嗯。电费多少"]),  # a part of one character is no question
    ],
)
def test_split_questions(text: str, parts: list[str]) -> None:
    assert split_questions(text) == parts


def parsed(*intents: str) -> list[NluResult]:
    return [NluResult(text=f"part {i}", intent=intent, confidence=0.9) for i, intent in enumerate(intents)]


def test_questions_keep_one_part_per_intent_in_order_and_drop_small_talk() -> None:
    assert [p.intent for p in questions(parsed("greet", "bill_amount", "planned_outage_query"))] == [
        "bill_amount",
        "planned_outage_query",
    ]
    assert questions(parsed("bill_amount", "bill_amount")) == []  # the same question twice is one question
    assert questions(parsed("bill_amount", "nlu_fallback")) == []
    assert questions(parsed("out_of_scope", "payment_methods")) == []
