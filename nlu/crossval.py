"""k-fold cross-validation of a pipeline on nlu/data: one model per fold, trained on the other folds and
asked about its own fold as production asks (normalised text, nlu/parse_batch.py). The out-of-fold predictions
give per-language figures and the calibrated decision (nlu/calibration.py); they are kept under
reports/nlu/cross-validation/ with the threshold curve the decision was read from.

Folds are stratified by intent and drawn with a fixed seed, so two runs of the same data compare pipelines.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from nlu import metrics
from nlu.calibration import Calibration, calibrate
from nlu.evaluate import draw, parse_texts, prediction, write_predictions
from nlu.metrics import Decision, Example, LanguageFigures, Prediction
from nlu.project import NLU_DIR, NluError, Progress, rasa_train

SEED = 42


@dataclass(frozen=True)
class CrossValidation:
    folds: int
    config: Path
    decision: Decision  # the configured decision the figures are given at
    languages: list[LanguageFigures]
    calibration: Calibration
    train_seconds: float  # mean training time of one fold's model
    report_dir: Path

    def lines(self) -> list[str]:
        lines = [
            f"[nlu] {self.folds}-fold cross-validation of {self.config.name} on nlu/data (out-of-fold, normalised; "
            f"threshold {self.decision.threshold:g}, margin {self.decision.ambiguity:g}; "
            f"{self.train_seconds:.0f} s to train a fold): report {self.report_dir}",
            f"  {'language':<8} {'n':>5} {'oos':>5} {'macroF1':>8} {'acc':>6} {'FA(oos)':>8} {'recall':>7}",
        ]
        for fig in self.languages:
            lines.append(
                f"  {fig.language:<8} {fig.examples:>5} {fig.out_of_scope:>5} {fig.macro_f1:>8.3f} "
                f"{fig.accuracy:>6.3f} {fig.false_accept:>8.3f} {fig.in_scope_recall:>7.3f}"
            )
        lines.append(self.calibration.line())
        return lines


def training_examples(data: Path) -> tuple[list[Example], list[dict[str, object]]]:
    """The intent examples of every file under `data`, and the other blocks (regexes, lookups, synonyms)."""
    examples: list[Example] = []
    other: list[dict[str, object]] = []
    for path in sorted(data.rglob("*.yml")):
        examples += metrics.read_examples(path)
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        other += [block for block in content.get("nlu") or [] if "intent" not in block]
    return examples, other


def split(examples: list[Example], folds: int, seed: int = SEED) -> list[list[Example]]:
    """Stratified folds: each intent's examples shuffled with the seed and dealt round-robin."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    rng = random.Random(seed)
    out: list[list[Example]] = [[] for _ in range(folds)]
    turn = 0
    for intent in sorted(by_intent):
        items = by_intent[intent]
        rng.shuffle(items)
        for item in items:
            out[turn % folds].append(item)
            turn += 1
    return out


def write_training(examples: list[Example], other: list[dict[str, object]], path: Path) -> None:
    """A Rasa NLU file of the examples as written (annotations kept) plus the regex and lookup blocks."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example.raw)
    blocks: list[dict[str, object]] = [
        {"intent": intent, "examples": "".join(f"- {raw}\n" for raw in raws)} for intent, raws in by_intent.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"version": "3.1", "nlu": blocks + other}, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def cross_validate(
    venv: Path,
    reports: Path,
    folds: int,
    decision: Decision,
    progress: Progress,
    config: Path = NLU_DIR / "config.yml",
    target: float = 0.05,
) -> CrossValidation:
    if folds < 2:
        raise NluError("cross-validation needs at least 2 folds")
    examples, other = training_examples(NLU_DIR / "data")
    parts = split(examples, folds)
    out = reports / "cross-validation"
    predictions: list[Prediction] = []
    texts: list[str] = []
    seconds = 0.0
    progress(f"[nlu] {folds}-fold cross-validation of {config.name}: {len(examples)} examples, {folds} models to train")
    with tempfile.TemporaryDirectory(prefix="gridtalk-cv-") as tmp:
        for k, held in enumerate(parts):
            rest = [e for i, part in enumerate(parts) if i != k for e in part]
            fold = Path(tmp) / f"fold{k}"
            write_training(rest, other, fold / "data" / "nlu.yml")
            started = time.monotonic()
            model = rasa_train(venv, config.resolve(), fold / "data", fold, f"fold{k}", progress)
            seconds += time.monotonic() - started
            parsed = parse_texts(model, [e.text for e in held], venv, fold / "parse", timeout=1800.0)
            predictions += [prediction(e, p) for e, p in zip(held, parsed, strict=True)]
            texts += [e.text for e in held]
            progress(f"[nlu] fold {k + 1}/{folds} done ({len(held)} examples asked)")
    languages = metrics.per_language(predictions, decision)
    calibration = calibrate(predictions, target)
    write_predictions(out, predictions, texts, languages)
    (out / "calibration.json").write_text(
        json.dumps(
            {
                "target": calibration.target,
                "met": calibration.met,
                "chosen": asdict(calibration.chosen),
                "curve": [asdict(p) for p in calibration.curve()],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    draw("cross-validation", predictions, calibration.chosen.decision, out, venv)
    return CrossValidation(folds, config, decision, languages, calibration, seconds / folds, out)
