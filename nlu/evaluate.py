"""`gridtalk nlu eval`: Rasa's own test on the held-out file (and cross-validation), summarised and gated."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nlu.project import NLU_DIR, NluError, Progress, rasa_env, rasa_executable

HELDOUT = NLU_DIR / "tests" / "heldout.yml"
MIN_MACRO_F1 = 0.93
MIN_OUT_OF_SCOPE_RECALL = 0.90


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

    @property
    def passes_gate(self) -> bool:
        return self.macro_f1 >= MIN_MACRO_F1 and self.out_of_scope_recall >= MIN_OUT_OF_SCOPE_RECALL


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


def _rasa_test(venv: Path, args: list[str], progress: Progress) -> None:
    cmd = [str(rasa_executable(venv)), "test", "nlu", *args]
    proc = subprocess.run(cmd, cwd=NLU_DIR, env=rasa_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NluError(f"rasa test nlu failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def evaluate_heldout(model: Path, venv: Path, reports: Path, progress: Progress) -> EvalSummary:
    out = reports / "heldout"
    progress(f"[nlu] testing {model.name} on the held-out file {HELDOUT.relative_to(NLU_DIR.parent)}")
    _rasa_test(venv, ["--nlu", str(HELDOUT), "--model", str(model), "--out", str(out)], progress)
    return summarise("held-out", out)


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
    )
    return summarise(f"{folds}-fold cross-validation", out)
