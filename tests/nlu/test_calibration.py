"""Choosing the decision from a curve, the cross-validation folds and writing the choice back (no Rasa)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlu.calibration import Calibration, calibrate
from nlu.crossval import split, training_examples, write_training
from nlu.evaluate import configured_decision
from nlu.metrics import Decision, Example, Prediction, read_examples
from nlu.project import NluError, write_decision


def _language(language: str, n: int, oos_confidences: list[float], in_confidences: list[float]) -> list[Prediction]:
    """n out-of-scope parses taken as bill_amount, n in-scope bill_amount parses (right), margins 0.3."""
    return [
        *(Prediction("out_of_scope", "bill_amount", c, language, 0.3) for c in oos_confidences[:n]),
        *(Prediction("bill_amount", "bill_amount", c, language, 0.3) for c in in_confidences[:n]),
    ]


def test_the_threshold_is_the_lowest_that_keeps_every_language_under_the_target() -> None:
    spread = [i / 40 for i in range(40)]  # 0.000 … 0.975
    # en out-of-scope parses are confident up to 0.975; zh ones never pass 0.5
    preds = _language("en", 40, spread, [0.95 + i / 1000 for i in range(40)])
    preds += _language("zh-Hans", 40, [c / 2 for c in spread], [0.95 + i / 1000 for i in range(40)])
    result = calibrate(preds, target=0.05)
    assert result.met and result.languages == ["zh-Hans", "en"]
    # en: at most 2 of 40 may pass → threshold above 0.925 (0.95 and 0.975 pass); in-scope all ≥ 0.95
    assert result.chosen.decision.threshold == pytest.approx(0.93)
    assert result.chosen.false_accept == {"zh-Hans": 0.0, "en": pytest.approx(2 / 40)}
    assert result.chosen.in_scope_recall["en"] == 1.0
    assert "threshold 0.93" in result.line()
    curve = result.curve()
    assert [p.decision.threshold for p in curve] == sorted(p.decision.threshold for p in curve)
    assert all(p.decision.ambiguity == result.chosen.decision.ambiguity for p in curve)


def test_the_margin_is_used_when_it_refuses_out_of_scope_cheaper_than_the_threshold() -> None:
    # out-of-scope parses are confident but torn between two intents; in-scope ones are clear
    oos = [Prediction("out_of_scope", "bill_amount", 0.8, "en", 0.05) for _ in range(30)]
    ins = [Prediction("bill_amount", "bill_amount", 0.7, "en", 0.5) for _ in range(30)]
    result = calibrate(oos + ins, target=0.05)
    assert result.chosen.decision.ambiguity > 0.05
    assert result.chosen.decision.threshold <= 0.7
    assert result.chosen.in_scope_recall["en"] == 1.0 and result.chosen.false_accept["en"] == 0.0


def test_when_no_point_meets_the_target_the_least_false_accept_is_chosen_and_said() -> None:
    # sure of themselves and clear of any runner-up: no threshold or margin below 1 refuses them
    preds = [
        Prediction(gold, "bill_amount", 1.0, "en", 1.0) for gold in ("out_of_scope", "bill_amount") for _ in range(30)
    ]
    result = calibrate(preds, target=0.05)
    assert not result.met
    assert "least false accept" in result.line()


def test_calibration_needs_both_kinds_of_examples() -> None:
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        calibrate([Prediction("greet", "greet", 0.9, "en")] * 50)


def test_folds_are_stratified_disjoint_and_repeatable() -> None:
    examples = [Example(intent, f"{intent} {i}", f"{intent} {i}", "en") for intent in ("a", "b") for i in range(10)]
    folds = split(examples, 5)
    assert sorted(e.raw for fold in folds for e in fold) == sorted(e.raw for e in examples)
    assert all(sum(1 for e in fold if e.intent == "a") == 2 for fold in folds)
    assert [[e.raw for e in fold] for fold in split(examples, 5)] == [[e.raw for e in fold] for fold in folds]


def test_a_fold_training_file_keeps_annotations_and_the_regexes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: bind_account\n  examples: |\n    - 绑定 [3301234567](account_number)\n'
        "- regex: account_number\n  examples: |\n    - \\b\\d{10}\\b\n",
        encoding="utf-8",
    )
    examples, other = training_examples(data)
    assert [e.raw for e in examples] == ["绑定 [3301234567](account_number)"]
    assert other == [{"regex": "account_number", "examples": "- \\b\\d{10}\\b\n"}]
    target = tmp_path / "fold" / "nlu.yml"
    write_training(examples, other, target)
    assert [e.raw for e in read_examples(target)] == ["绑定 [3301234567](account_number)"]
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["nlu"][1] == other[0]


def _pipeline(path: Path, fallback: str = "") -> Path:
    """A small pipeline file: DIET, then (when given) the FallbackClassifier's lines, then the policies."""
    path.write_text(
        f"pipeline:\n  - name: DIETClassifier\n    epochs: 10\n{fallback}\npolicies: []\n", encoding="utf-8"
    )
    return path


def test_production_decides_with_the_fallback_classifier_and_the_stricter_threshold(tmp_path: Path) -> None:
    config = _pipeline(
        tmp_path / "config.yml", "  - name: FallbackClassifier\n    threshold: 0.62\n    ambiguity_threshold: 0.09\n"
    )
    assert configured_decision(0.5, config) == Decision(0.62, 0.09)
    assert configured_decision(0.7, config) == Decision(0.7, 0.09)
    assert configured_decision(0.4, _pipeline(tmp_path / "none.yml")) == Decision(0.4)
    shipped = configured_decision(0.0)
    assert 0.0 < shipped.threshold < 1.0 and 0.0 <= shipped.ambiguity < 1.0


def test_the_calibrated_decision_is_written_into_the_pipeline_comments_kept(tmp_path: Path) -> None:
    config = _pipeline(
        tmp_path / "config.yml",
        "  # decides\n  - name: FallbackClassifier\n    # from the curve\n    threshold: 0.5\n"
        "    ambiguity_threshold: 0.1\n",
    )
    write_decision(config, Decision(0.73, 0.06))
    text = config.read_text(encoding="utf-8")
    assert "    # from the curve\n    threshold: 0.73\n    ambiguity_threshold: 0.06\n" in text
    assert "epochs: 10" in text and text.endswith("policies: []\n")
    with pytest.raises(NluError, match="no FallbackClassifier"):
        write_decision(_pipeline(tmp_path / "none.yml"), Decision(0.7))


def test_a_calibration_reads_as_one_line() -> None:
    point = calibrate(_language("en", 30, [0.2] * 30, [0.9] * 30)).chosen
    assert isinstance(Calibration(0.05, point, True, ["en"], [point]).line(), str)
