"""`gridtalk nlu parse`, the public NLU contract, as a process against the real Rasa server: one JSON object per
line of stdin in Rasa's /model/parse shape, each telling the line as it was typed — traditional characters,
full-width digits, runs of spaces — with its entities' start and end indexing that text; blank lines skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nlu.project import ROOT
from tests.support.processes import clean_env

pytestmark = pytest.mark.rasa

LINES = [
    "我家上个月电费多少",
    "我家上個月電費多少",  # traditional
    "  我家上個月   電費多少  ",  # spaces around and inside
    "我的戶號是３３０１２３４５６７，幫我綁定",  # full-width digits
    "現在停電了嗎",
    "what's the weather tomorrow",
]


def test_every_line_is_told_as_typed_with_its_entities_where_they_were_typed(rasa_url: str) -> None:
    typed = "\n".join([LINES[0], "", *LINES[1:]]) + "\n"  # a blank line: skipped
    done = subprocess.run(
        [sys.executable, "-m", "gridtalk", "nlu", "parse"],
        input=typed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env(GRIDTALK_RASA_URL=rasa_url),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["text"] for p in parsed] == LINES
    for p in parsed:
        assert set(p) >= {"text", "intent", "entities"} and set(p["intent"]) >= {"name", "confidence"}
        assert 0 <= p["intent"]["confidence"] <= 1
    assert [p["intent"]["name"] for p in parsed[:3]] == ["bill_amount"] * 3
    for p in parsed[:3]:
        [period] = [e for e in p["entities"] if e["entity"] == "period"]
        assert p["text"][period["start"] : period["end"]] in ("上个月", "上個月") and period["value"] == "上个月"
    binding = parsed[3]
    assert binding["intent"]["name"] == "bind_account"
    [number] = [e for e in binding["entities"] if e["entity"] == "account_number"]
    assert number["value"] == "3301234567"
    assert binding["text"][number["start"] : number["end"]] == "３３０１２３４５６７"
    assert parsed[4]["intent"]["name"] == "outage_status"
    assert parsed[5]["intent"]["name"] in ("out_of_scope", "nlu_fallback")
