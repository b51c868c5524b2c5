"""The regression gate: the trained model on both held-out files, normalised as the client does, decided as
production decides (Rasa's FallbackClassifier and the client's threshold)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from nlu.evaluate import HELDOUT_FILES, configured_decision, evaluate_heldout
from nlu.project import current_model
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.rasa


def test_heldout_floors_per_language(tmp_path: Path) -> None:
    model = current_model(ROOT / "nlu" / "models")
    if model is None:
        unavailable("no NLU model trained from the current nlu/: run `make model`")
    assert model is not None
    decision = configured_decision(Settings.model_fields["nlu_confidence_threshold"].default)
    results = evaluate_heldout(
        model,
        ROOT / ".venv-rasa",
        tmp_path,
        progress=lambda _line: None,
        decision=decision,
        plots=False,
        timeout=300,
    )
    assert [r.name for r in results] == list(HELDOUT_FILES)
    for result in results:
        print(result.table())
        assert [f.language for f in result.languages] == ["zh-Hans", "zh-Hant", "en", "all"]
        assert all(f.examples > 0 for f in result.languages), result.table()
    failures = [failure for result in results for failure in result.gate_failures()]
    assert not failures, "\n".join(failures)
