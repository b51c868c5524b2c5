"""`gridtalk nlu eval`: the held-out files as production parses them, the keyword rules on their own,
Rasa's cross-validation, and the gate.

Every held-out example is normalised exactly as the client normalises a customer's message (nlu/normalize.py)
and its language is taken from its raw text; one `rasa test nlu` run predicts both files. Figures per language
come from the per-example predictions (nlu/metrics.py); pictures are drawn by nlu/plots.py with Rasa's Python.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from nlu import metrics
from nlu.metrics import ALL, Example, KeywordFigures, LanguageFigures, Prediction
from nlu.project import NLU_DIR, NluError, Progress, rasa_env, rasa_executable

HELDOUT_FILES = {
    "heldout": NLU_DIR / "tests" / "heldout.yml",
    "heldout_fresh": NLU_DIR / "tests" / "heldout_fresh.yml",
}

# The gate, per held-out file and per language, on normalised text. These are FLOORS (and ceilings), set a
# margin below (above) what the current model achieves so that the gate is stable across retrains and still
# catches a regression: RAISE THEM (lower the ceilings) as the model improves. The goals, macro-F1 >= 0.95 per
# language and <= 5 % out-of-scope false accept, are NOT met by the current model on heldout_fresh (see
# docs/NLU.md for the figures). heldout.yml has only 15 / 3 / 6 out_of_scope examples per language: its
# ceilings allow one false accept each; the 551 of heldout_fresh.yml are the real measure.
MIN_MACRO_F1: dict[str, dict[str, float]] = {
    "heldout": {"zh-Hans": 0.93, "zh-Hant": 0.90, "en": 0.92},  # measured 0.967 / 1.000 / 0.951
    "heldout_fresh": {"zh-Hans": 0.86, "zh-Hant": 0.85, "en": 0.72},  # measured 0.889 / 0.883 / 0.750
}
MAX_FALSE_ACCEPT: dict[str, dict[str, float]] = {
    "heldout": {"zh-Hans": 0.07, "zh-Hant": 0.34, "en": 0.17},  # measured 0 / 0 / 0
    "heldout_fresh": {"zh-Hans": 0.20, "zh-Hant": 0.15, "en": 0.28},  # measured 0.172 / 0.116 / 0.253
}
GOAL_MACRO_F1 = 0.95
GOAL_FALSE_ACCEPT = 0.05


@dataclass(frozen=True)
class FileEvaluation:
    name: str
    threshold: float
    languages: list[LanguageFigures]  # zh-Hans, zh-Hant, en, all
    keywords: list[KeywordFigures]
    report_dir: Path

    def table(self) -> str:
        lines = [
            f"[nlu] {self.name}: {self.languages[-1].examples} examples, normalised; accepted at confidence "
            f">= {self.threshold:g}; FA = out_of_scope accepted in scope; report: {self.report_dir}",
            f"  {'language':<8} {'n':>5} {'oos':>4} {'macroF1':>8} {'acc':>6} {'FA(oos)':>8} {'recall':>7}"
            f"   keywords: {'cover':>6} {'acc':>6} {'prec':>6} {'FA':>6}",
        ]
        for fig, kw in zip(self.languages, self.keywords, strict=True):
            lines.append(
                f"  {fig.language:<8} {fig.examples:>5} {fig.out_of_scope:>4} {fig.macro_f1:>8.3f} "
                f"{fig.accuracy:>6.3f} {fig.false_accept:>8.3f} {fig.in_scope_recall:>7.3f}"
                f"             {kw.coverage:>6.3f} {kw.accuracy:>6.3f} {kw.precision:>6.3f} {kw.false_accept:>6.3f}"
            )
        missed = self.goals_missed()
        lines.append(
            f"  goals (macro-F1 >= {GOAL_MACRO_F1}, FA <= {GOAL_FALSE_ACCEPT} per language): "
            + (f"not met by {', '.join(missed)}" if missed else "met")
        )
        return "\n".join(lines)

    def goals_missed(self) -> list[str]:
        return [
            f.language
            for f in self.languages
            if f.language != ALL and (f.macro_f1 < GOAL_MACRO_F1 or f.false_accept > GOAL_FALSE_ACCEPT)
        ]

    def gate_failures(self) -> list[str]:
        """What falls under this file's floors (or over its ceilings); empty when the gate passes."""
        failures = []
        for fig in self.languages:
            if fig.language == ALL:
                continue
            floor = MIN_MACRO_F1[self.name][fig.language]
            ceiling = MAX_FALSE_ACCEPT[self.name][fig.language]
            if fig.macro_f1 < floor:
                failures.append(f"{self.name} {fig.language}: macro-F1 {fig.macro_f1:.3f} < floor {floor}")
            if fig.false_accept > ceiling:
                failures.append(
                    f"{self.name} {fig.language}: out-of-scope false accept {fig.false_accept:.3f} > ceiling {ceiling}"
                )
        return failures


@dataclass(frozen=True)
class EvalSummary:
    name: str
    macro_f1: float
    accuracy: float
    out_of_scope_recall: float
    examples: int
    report_dir: Path

    def line(self) -> str:
        return (
            f"[nlu] {self.name}: macro-F1 {self.macro_f1:.3f}, accuracy {self.accuracy:.3f}, "
            f"out_of_scope recall {self.out_of_scope_recall:.3f} over {self.examples} examples "
            f"(report: {self.report_dir})"
        )


def summarise(name: str, report_dir: Path) -> EvalSummary:
    path = report_dir / "intent_report.json"
    if not path.exists():
        raise NluError(f"Rasa wrote no intent report at {path}")
    report = json.loads(path.read_text())
    macro = report["macro avg"]
    return EvalSummary(
        name=name,
        macro_f1=float(macro["f1-score"]),
        accuracy=float(report.get("accuracy", 0.0)),
        out_of_scope_recall=float(report.get("out_of_scope", {}).get("recall", 0.0)),
        examples=int(macro["support"]),
        report_dir=report_dir,
    )


def _rasa_test(venv: Path, args: list[str], progress: Progress, timeout: float) -> None:
    cmd = [str(rasa_executable(venv)), "test", "nlu", *args]
    try:
        proc = subprocess.run(
            cmd, cwd=NLU_DIR, env=rasa_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise NluError(f"rasa test nlu did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise NluError(f"rasa test nlu failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def server_fallback_threshold(config: Path = NLU_DIR / "config.yml") -> float:
    """The FallbackClassifier threshold in config.yml: below it the Rasa server itself answers nlu_fallback."""
    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    return next((float(c.get("threshold", 0.3)) for c in pipeline if c.get("name") == "FallbackClassifier"), 0.0)


def _read_predictions(out: Path) -> dict[tuple[str, str], tuple[str, float]]:
    """(text, gold intent) → (predicted intent, confidence) from Rasa's per-example JSON files."""
    found: dict[tuple[str, str], tuple[str, float]] = {}
    for name in ("intent_successes.json", "intent_errors.json"):
        path = out / name
        if path.exists():
            for row in json.loads(path.read_text(encoding="utf-8")):
                prediction = row.get("intent_prediction") or {}
                found[(row["text"], row["intent"])] = (
                    str(prediction.get("name") or metrics.FALLBACK),
                    float(prediction.get("confidence") or 0.0),
                )
    return found


def predict(
    examples: dict[str, list[Example]], model: Path, venv: Path, reports: Path, progress: Progress, timeout: float
) -> dict[str, list[Prediction]]:
    """Normalised copies of the held-out files, one `rasa test nlu` over them, predictions per file."""
    normalized = reports / "normalized"
    for name, items in examples.items():
        metrics.write_normalized(items, normalized / f"{name}.yml")
    out = reports / "rasa-test"
    progress(f"[nlu] testing {model.name} on the normalised held-out files ({', '.join(examples)})")
    _rasa_test(
        venv,
        ["--nlu", str(normalized), "--model", str(model), "--out", str(out), "--successes", "--no-plot"],
        progress,
        timeout,
    )
    found = _read_predictions(out)
    result: dict[str, list[Prediction]] = {}
    for name, items in examples.items():
        missing = [e.text for e in items if (e.text, e.intent) not in found]
        if missing:
            raise NluError(f"rasa test returned no prediction for {len(missing)} examples of {name}: {missing[:3]}")
        result[name] = [Prediction(e.intent, *found[(e.text, e.intent)], e.language) for e in items]
    return result


def evaluate_heldout(
    model: Path,
    venv: Path,
    reports: Path,
    progress: Progress,
    threshold: float,
    files: dict[str, Path] | None = None,
    plots: bool = True,
    timeout: float = 900.0,
) -> list[FileEvaluation]:
    """Both held-out files, normalised as the client does: figures per language, keyword rules, pictures."""
    from core.dialogue.keywords import match_intent

    files = files or HELDOUT_FILES
    # `rasa test` undoes the FallbackClassifier; production gets nlu_fallback below its threshold, and the
    # client turns anything under its own threshold into nlu_fallback: the stricter of the two decides.
    threshold = max(threshold, server_fallback_threshold())
    examples = {name: metrics.read_examples(path) for name, path in files.items()}
    predictions = predict(examples, model, venv, reports, progress, timeout)
    results = []
    for name, items in examples.items():
        preds = predictions[name]
        out = reports / name
        out.mkdir(parents=True, exist_ok=True)
        evaluation = FileEvaluation(
            name=name,
            threshold=threshold,
            languages=metrics.per_language(preds, threshold),
            keywords=[metrics.keyword_figures(items, match_intent, language) for language in (*metrics.LANGUAGES, ALL)],
            report_dir=out,
        )
        (out / "predictions.json").write_text(
            json.dumps(
                [asdict(p) | {"text": e.text} for p, e in zip(preds, items, strict=True)], ensure_ascii=False, indent=1
            ),
            encoding="utf-8",
        )
        (out / "figures.json").write_text(
            json.dumps(
                {
                    "languages": [asdict(f) for f in evaluation.languages],
                    "keywords": [asdict(k) for k in evaluation.keywords],
                },
                indent=1,
            ),
            encoding="utf-8",
        )
        if plots:
            draw(name, preds, threshold, out, venv)
        results.append(evaluation)
    return results


def draw(name: str, predictions: list[Prediction], threshold: float, out: Path, venv: Path) -> None:
    """confusion_matrix.png and threshold_curve.png in `out`, drawn with Rasa's Python (it has matplotlib)."""
    labels, counts = metrics.confusion(predictions)
    curves = {
        language: metrics.threshold_curve([p for p in predictions if language == ALL or p.language == language])
        for language in (*metrics.LANGUAGES, ALL)
    }
    spec = out / "plots.json"
    spec.write_text(
        json.dumps(
            {
                "name": name,
                "threshold": threshold,
                "labels": labels,
                "confusion": counts,
                "curves": curves,
                "confusion_png": str(out / "confusion_matrix.png"),
                "curve_png": str(out / "threshold_curve.png"),
            }
        ),
        encoding="utf-8",
    )
    python = (venv if venv.is_absolute() else NLU_DIR.parent / venv) / "bin" / "python"
    proc = subprocess.run(
        [str(python), str(NLU_DIR / "plots.py"), str(spec)],
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise NluError(f"drawing the pictures failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def cross_validate(venv: Path, reports: Path, folds: int, progress: Progress) -> EvalSummary:
    out = reports / "cross-validation"
    progress(f"[nlu] {folds}-fold cross-validation on nlu/data (trains {folds} models; several minutes)")
    _rasa_test(
        venv,
        [
            "--nlu",
            "data",
            "--config",
            "config.yml",
            "--cross-validation",
            "--folds",
            str(folds),
            "--out",
            str(out),
        ],
        progress,
        timeout=3600.0 * max(1, folds),
    )
    return summarise(f"{folds}-fold cross-validation", out)
