"""The regression gate: the trained model on the held-out file, through `rasa test nlu`."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.evaluate import MIN_MACRO_F1, MIN_OUT_OF_SCOPE_RECALL, evaluate_heldout
from nlu.project import current_model
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.rasa


def test_heldout_macro_f1_and_out_of_scope_recall(tmp_path: Path) -> None:
    model = current_model(ROOT / "nlu" / "models")
    if model is None:
        unavailable("no NLU model trained from the current nlu/: run `make model`")
    assert model is not None
    summary = evaluate_heldout(model, ROOT / ".venv-rasa", tmp_path, progress=lambda _line: None)
    print(summary.line())
    assert summary.macro_f1 >= MIN_MACRO_F1, summary.line()
    assert summary.out_of_scope_recall >= MIN_OUT_OF_SCOPE_RECALL, summary.line()
