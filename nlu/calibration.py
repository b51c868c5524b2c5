"""Choosing the decision (confidence threshold and ambiguity margin) from a curve, not by hand (pure).

Given predictions the model made on text it was not trained on (the out-of-fold predictions of
cross-validation), every (threshold, margin) pair of a grid is scored per language: the share of out-of-scope
examples still answered as an intent (false accept) and the share of in-scope examples answered right
(in-scope recall). The chosen pair keeps the false accept of EVERY language at or under the target and, among
those, gives the best in-scope recall of the worst language (then the best mean, then the lowest threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nlu.metrics import LANGUAGES, OUT_OF_SCOPE, Decision, Prediction, false_accept, in_scope_recall

THRESHOLDS = tuple(round(i / 100, 2) for i in range(100))
AMBIGUITIES = tuple(round(i / 100, 2) for i in range(0, 42, 3))
# a language constrains the choice only with enough examples of both kinds to give a meaningful rate
MIN_EXAMPLES = 20


@dataclass(frozen=True)
class OperatingPoint:
    decision: Decision
    false_accept: dict[str, float]
    in_scope_recall: dict[str, float]

    def worst_false_accept(self) -> float:
        return max(self.false_accept.values(), default=0.0)

    def worst_recall(self) -> float:
        return min(self.in_scope_recall.values(), default=0.0)

    def mean_recall(self) -> float:
        values = list(self.in_scope_recall.values())
        return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class Calibration:
    target: float  # the false-accept ceiling per language
    chosen: OperatingPoint
    met: bool  # False: no grid point keeps every language under the target; the least bad one is chosen
    languages: list[str]
    points: list[OperatingPoint] = field(repr=False)

    def curve(self) -> list[OperatingPoint]:
        """The chosen margin's points, threshold ascending: the threshold curve the choice was read from."""
        return sorted(
            (p for p in self.points if p.decision.ambiguity == self.chosen.decision.ambiguity),
            key=lambda p: p.decision.threshold,
        )

    def line(self) -> str:
        d = self.chosen
        per_language = ", ".join(
            f"{lang} FA {d.false_accept[lang]:.3f} recall {d.in_scope_recall[lang]:.3f}" for lang in self.languages
        )
        verdict = "" if self.met else f" (no point keeps every language under {self.target:g}: least false accept)"
        return (
            f"[nlu] calibrated on the out-of-fold predictions (false accept <= {self.target:g} per language): "
            f"threshold {d.decision.threshold:g}, ambiguity margin {d.decision.ambiguity:g} — {per_language}{verdict}"
        )


def constraining_languages(predictions: Sequence[Prediction]) -> list[str]:
    found = []
    for language in LANGUAGES:
        chosen = [p for p in predictions if p.language == language]
        oos = sum(1 for p in chosen if p.intent == OUT_OF_SCOPE)
        if oos >= MIN_EXAMPLES and len(chosen) - oos >= MIN_EXAMPLES:
            found.append(language)
    return found


def calibrate(
    predictions: Sequence[Prediction],
    target: float = 0.05,
    thresholds: Sequence[float] = THRESHOLDS,
    ambiguities: Sequence[float] = AMBIGUITIES,
) -> Calibration:
    languages = constraining_languages(predictions)
    if not languages:
        raise ValueError("calibration needs in-scope and out-of-scope examples of at least one language")
    by_language = {lang: [p for p in predictions if p.language == lang] for lang in languages}
    points = []
    for ambiguity in ambiguities:
        for threshold in thresholds:
            decision = Decision(threshold, ambiguity)
            points.append(
                OperatingPoint(
                    decision,
                    {lang: false_accept(chosen, decision) for lang, chosen in by_language.items()},
                    {lang: in_scope_recall(chosen, decision) for lang, chosen in by_language.items()},
                )
            )
    feasible = [p for p in points if p.worst_false_accept() <= target]
    if feasible:
        chosen = max(feasible, key=lambda p: (p.worst_recall(), p.mean_recall(), -p.decision.threshold))
    else:
        chosen = min(points, key=lambda p: (p.worst_false_accept(), -p.worst_recall(), p.decision.threshold))
    return Calibration(target, chosen, bool(feasible), languages, points)
