"""The held-out figures as production sees them (pure): language of an example, normalised test files,
per-language macro-F1 and accuracy, the out-of-scope false-accept rate and the threshold curve."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlu.normalize import _t2s, normalize

OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"
LANGUAGES = ("zh-Hans", "zh-Hant", "en")
ALL = "all"
# held-out examples are short; never cut one the way a 500-character customer message is cut
_NO_CAP = 100_000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Rasa's inline entity annotation: [value](entity), [value]{"entity": ...} or [value][{...}]
_ANNOTATION = re.compile(r"\[(?P<value>[^\]]+)\](?P<label>\([^)]*\)|\{[^}]*\}|\[\{.*?\}\])")


def plain_text(example: str) -> str:
    """The text of an annotated example, annotations removed (what Rasa parses)."""
    return _ANNOTATION.sub(lambda m: m.group("value"), example)


def language_of(raw: str) -> str:
    """zh-Hant when traditional → simplified changes the raw text, zh-Hans when it has CJK, else en."""
    text = plain_text(raw)
    if _t2s().convert(text) != text:
        return "zh-Hant"
    return "zh-Hans" if _CJK.search(text) else "en"


def normalize_example(example: str) -> str:
    """normalize() applied to the text and to each entity value; the entity labels are kept as written.

    Without annotations this is exactly normalize(example).text."""
    pieces: list[str] = []
    last = 0
    for match in _ANNOTATION.finditer(example):
        pieces.append(_normalize_piece(example[last : match.start()]))
        pieces.append(f"[{normalize(match.group('value'), _NO_CAP).text}]{match.group('label')}")
        last = match.end()
    pieces.append(_normalize_piece(example[last:]))
    return re.sub(" {2,}", " ", "".join(pieces)).strip()


def _normalize_piece(piece: str) -> str:
    """normalize(), keeping one space where the piece began or ended with whitespace (next to an entity)."""
    text = normalize(piece, _NO_CAP).text
    if not text:
        return " " if piece and piece.isspace() else ""
    return (" " if piece[:1].isspace() else "") + text + (" " if piece[-1:].isspace() else "")


@dataclass(frozen=True)
class Example:
    intent: str
    raw: str  # as written in the held-out file (annotations included)
    text: str  # normalised, annotations removed: what the model is asked
    language: str


def read_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            raw = line[2:].strip()
            if raw:
                text = plain_text(normalize_example(raw))
                examples.append(Example(block["intent"], raw, text, language_of(raw)))
    return examples


def write_normalized(examples: Sequence[Example], path: Path) -> None:
    """A Rasa NLU file of the examples, each normalised as the client does (annotations intact)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(normalize_example(example.raw))
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Prediction:
    intent: str  # gold
    predicted: str  # the model's best intent (nlu_fallback only when nothing else was returned)
    confidence: float
    language: str
    margin: float = 1.0  # confidence of the best intent minus that of the runner-up


@dataclass(frozen=True)
class Decision:
    """When a parse is taken as its intent: confident enough (threshold) and clear of the runner-up (ambiguity
    margin), as Rasa's FallbackClassifier and the client decide; otherwise it is nlu_fallback."""

    threshold: float
    ambiguity: float = 0.0

    def label(self, p: Prediction) -> str:
        refused = p.predicted in (FALLBACK, "") or p.confidence < self.threshold or p.margin < self.ambiguity
        return FALLBACK if refused else p.predicted

    def accepts(self, p: Prediction) -> bool:
        """The parse is answered as an in-scope intent (not fallback, not out_of_scope)."""
        return self.label(p) not in (FALLBACK, OUT_OF_SCOPE)


def _scored(label: str) -> str:
    """nlu_fallback and out_of_scope both mean "we do not handle this": one class when scoring."""
    return OUT_OF_SCOPE if label == FALLBACK else label


@dataclass(frozen=True)
class LanguageFigures:
    language: str
    examples: int
    out_of_scope: int
    macro_f1: float  # over the gold intents, nlu_fallback counted as out_of_scope
    accuracy: float
    false_accept: float  # share of out_of_scope examples answered as an in-scope intent
    in_scope_recall: float  # share of in-scope examples answered with the right intent


def macro_f1(predictions: Sequence[Prediction], decision: Decision) -> float:
    """Mean F1 over the gold intents present (precision counts every decision in the same set)."""
    pairs = [(p.intent, _scored(decision.label(p))) for p in predictions]
    labels = sorted({gold for gold, _ in pairs})
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(1 for gold, got in pairs if gold == label and got == label)
        predicted = sum(1 for _, got in pairs if got == label)
        gold_count = sum(1 for gold, _ in pairs if gold == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / gold_count
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def false_accept(predictions: Sequence[Prediction], decision: Decision) -> float:
    oos = [p for p in predictions if p.intent == OUT_OF_SCOPE]
    return sum(1 for p in oos if decision.accepts(p)) / len(oos) if oos else 0.0


def in_scope_recall(predictions: Sequence[Prediction], decision: Decision) -> float:
    ins = [p for p in predictions if p.intent != OUT_OF_SCOPE]
    return sum(1 for p in ins if decision.label(p) == p.intent) / len(ins) if ins else 0.0


def figures(predictions: Sequence[Prediction], decision: Decision, language: str = ALL) -> LanguageFigures:
    chosen = [p for p in predictions if language == ALL or p.language == language]
    correct = sum(1 for p in chosen if _scored(decision.label(p)) == p.intent)
    return LanguageFigures(
        language=language,
        examples=len(chosen),
        out_of_scope=sum(1 for p in chosen if p.intent == OUT_OF_SCOPE),
        macro_f1=macro_f1(chosen, decision),
        accuracy=correct / len(chosen) if chosen else 0.0,
        false_accept=false_accept(chosen, decision),
        in_scope_recall=in_scope_recall(chosen, decision),
    )


def per_language(predictions: Sequence[Prediction], decision: Decision) -> list[LanguageFigures]:
    return [figures(predictions, decision, language) for language in (*LANGUAGES, ALL)]


def threshold_curve(
    predictions: Sequence[Prediction], ambiguity: float = 0.0, steps: int = 100
) -> list[tuple[float, float, float]]:
    """(threshold, false-accept, in-scope recall) for thresholds 0, 1/steps, ..., 1 at one ambiguity margin."""
    return [
        (t, false_accept(predictions, d), in_scope_recall(predictions, d))
        for t in (i / steps for i in range(steps + 1))
        for d in (Decision(t, ambiguity),)
    ]


def with_second_opinion(
    predictions: Sequence[Prediction], examples: Sequence[Example], decision: Decision, match: Callable[[str], str]
) -> list[Prediction]:
    """What the chat answers: where the decision falls back, the keyword rules' match (if any) is taken instead,
    as the dialogue does (core/dialogue/service.py)."""
    answered = []
    for p, example in zip(predictions, examples, strict=True):
        second = match(example.text) if decision.label(p) == FALLBACK else FALLBACK
        answered.append(p if second == FALLBACK else Prediction(p.intent, second, 1.0, p.language, 1.0))
    return answered


def confusion(predictions: Iterable[Prediction], decision: Decision) -> tuple[list[str], list[list[int]]]:
    """Labels (gold and decided) and counts[gold][decided]; nlu_fallback kept apart to show what was refused."""
    pairs = [(p.intent, decision.label(p)) for p in predictions]
    labels = sorted({gold for gold, _ in pairs} | {got for _, got in pairs})
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for gold, got in pairs:
        counts[index[gold]][index[got]] += 1
    return labels, counts


@dataclass(frozen=True)
class KeywordFigures:
    language: str
    examples: int
    coverage: float  # share of in-scope examples the rules answer at all
    accuracy: float  # share of in-scope examples they answer with the right intent
    precision: float  # right among those answered
    false_accept: float  # share of out_of_scope examples they answer with an intent


def keyword_figures(examples: Sequence[Example], match: Callable[[str], str], language: str = ALL) -> KeywordFigures:
    chosen = [e for e in examples if language == ALL or e.language == language]
    ins = [(e, match(e.text)) for e in chosen if e.intent != OUT_OF_SCOPE]
    oos = [match(e.text) for e in chosen if e.intent == OUT_OF_SCOPE]
    answered = [(e, got) for e, got in ins if got != FALLBACK]
    right = sum(1 for e, got in answered if got == e.intent)
    return KeywordFigures(
        language=language,
        examples=len(chosen),
        coverage=len(answered) / len(ins) if ins else 0.0,
        accuracy=right / len(ins) if ins else 0.0,
        precision=right / len(answered) if answered else 0.0,
        false_accept=sum(1 for got in oos if got != FALLBACK) / len(oos) if oos else 0.0,
    )
