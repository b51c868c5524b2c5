"""Masking a customer message for the training data, and merging examples (pure: no database)."""

from __future__ import annotations

import pytest
import yaml

from core.nlu_review.training import mask_for_training, merge, render


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我的户号3301234567电费多少", "我的户号0000000000电费多少"),
        ("手机 138-1234-5678，尾号5678", "手机 00000000000，尾号0000"),
        ("+86 13812345678 call me", "+86 00000000000 call me"),
        ("2026年10月的账单和2026-09的", "2026年10月的账单和2026-09的"),  # years teach the period: kept
        ("bill for October 2026 please", "bill for October 2026 please"),
        ("电费1200元", "电费0000元"),
        ("我叫王小明，要交电费", "我叫张三，要交电费"),
        ("我是户主，想改电话", "我是户主，想改电话"),
        ("请王先生回电", "请张先生回电"),
        ("My name is John Brown and I am Angry", "My name is Alex Smith and I am Angry"),
        ("I'm Li Ming, Mrs. Green's tenant", "I'm Alex Smith, Mrs Smith's tenant"),
        ("write to a.b+c@example.co.uk", "write to user@example.com"),
        ("[3301234567](account_number) x", "(0000000000)(account_number) x"),  # never Rasa markup
        ("  两行\n\t文字  ", "两行 文字"),
    ],
)
def test_mask_for_training(text: str, masked: str) -> None:
    assert mask_for_training(text) == masked


def test_merge_keeps_each_text_once_and_the_last_intent_wins() -> None:
    merged = merge({"greet": ["你好", "hi"]}, [("out_of_scope", "hi"), ("thanks", "谢谢"), ("thanks", "谢谢")])
    assert merged == {"greet": ["你好"], "out_of_scope": ["hi"], "thanks": ["谢谢"]}
    data = yaml.safe_load(render(merged))
    assert data["version"] == "3.1"
    assert data["nlu"] == [
        {"intent": "greet", "examples": "- 你好\n"},
        {"intent": "out_of_scope", "examples": "- hi\n"},
        {"intent": "thanks", "examples": "- 谢谢\n"},
    ]
