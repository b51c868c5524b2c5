"""The NLU training data: the intents of the contract, enough examples, and a held-out file kept apart."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from core.dialogue.intents import FALLBACK, FAQ_INTENTS, INTENTS

NLU = Path(__file__).resolve().parents[2] / "nlu"
# The intents the dialogue engine answers (core/dialogue/intents.py) are the NLU contract.
CONTRACT_INTENTS = INTENTS - FAQ_INTENTS - {FALLBACK}
FAQ_TOPICS = {
    "new_connection",
    "capacity_change",
    "ev_charger",
    "rooftop_solar",
    "electrical_safety",
    "energy_saving",
    "meter_reading",
    "arrears_reconnection",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
ANNOTATION = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)|\[([^\]]+)\]\{[^}]+\}")


def plain(example: str) -> str:
    return re.sub(r"\s+", "", ANNOTATION.sub(lambda m: m.group(1) or m.group(2), example)).lower()


def examples(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu", []):
            if "intent" in block:
                lines = [line.removeprefix("- ").strip() for line in block["examples"].splitlines()]
                found.setdefault(block["intent"], []).extend(line for line in lines if line)
    return found


TRAINING = examples(sorted((NLU / "data").rglob("*.yml")))
# the gate's held-out file, and the follow-ups' (the intents conversations added: help, inform, short follow-ups)
HELDOUT = examples([NLU / "tests" / "heldout.yml", NLU / "tests" / "heldout_conversation.yml"])


def test_the_contract_intents_and_faq_topics_are_trained() -> None:
    assert set(TRAINING) >= CONTRACT_INTENTS
    assert {f"faq_{topic}" for topic in FAQ_TOPICS} == FAQ_INTENTS <= set(TRAINING)
    domain = yaml.safe_load((NLU / "domain.yml").read_text())
    assert set(TRAINING) <= set(domain["intents"])


@pytest.mark.parametrize("intent", sorted(set(TRAINING)))
def test_enough_chinese_and_english_examples(intent: str) -> None:
    counts = Counter("zh" if CJK.search(text) else "en" for text in TRAINING[intent])
    assert counts["zh"] >= 40, counts
    assert counts["en"] >= 20, counts


def test_out_of_scope_is_broad() -> None:
    assert len(TRAINING["out_of_scope"]) >= 150


def test_heldout_covers_every_intent_and_none_of_it_is_training_data() -> None:
    assert set(HELDOUT) == set(TRAINING)
    assert all(len(HELDOUT[intent]) >= 10 for intent in TRAINING)
    trained = {plain(text) for texts in TRAINING.values() for text in texts}
    leaked = [text for texts in HELDOUT.values() for text in texts if plain(text) in trained]
    assert leaked == []
