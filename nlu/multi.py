"""Two questions in one message ("查下这个月电费，顺便问下最近有没有计划停电"): split, parse each part, keep
the parts that ask different things.

The message (already normalised: simplified characters, half-width punctuation) is cut at sentence ends and
at the words people join two questions with (顺便 / 另外 / 还有 / 对了 …, "also", "by the way", ", and how …").
Each part is parsed on its own; the parts kept are those the model places confidently on a question intent,
one per intent, in the order asked. Fewer than two: the message is one question. Pure (the parsing is the
caller's); `gridtalk nlu eval` measures it on nlu/tests/two_questions.yml against the whole-message parse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.ports import FALLBACK_INTENT, NluResult

MAX_PARTS = 3
# Small talk next to a question is not a second question ("你好，我想查电费" is a bill question).
NOT_A_QUESTION = frozenset({FALLBACK_INTENT, "out_of_scope", "greet", "thanks", "goodbye", "inform"})

# sentence ends; an English full stop before the next sentence; a comma or a space between Chinese clauses
_SENTENCE_END = re.compile(
    r"(?<=[。？！?!；;\n])|(?<=[a-z0-9][.])\s+(?=[A-Za-z])|(?<=[\u3400-\u9fff])[，, ]+(?=[\u3400-\u9fff])"
)
_ZH_JOIN = re.compile(
    r"[，,]?\s*(?:顺便(?:问(?:一下|下|问)?|说(?:一下|下)?)?|另外|还有就是|还有|还想问(?:一下|下)?|再问(?:一下|下)?|以及|对了|同时)"
    r"[，,:：]?"
)
_EN_JOIN = re.compile(
    r"(?:,\s*|\s+)(?:and also|also|by the way|btw|plus|and then|and)\s+(?=(?:what|how|when|why|where|which|who|is|are|"
    r"am|can|could|do|does|did|will|would|should|i want|i'd like|i need|please|tell|any|let me|send|stop)\b)"
    r"|(?:,\s*|\s+)(?:also|by the way|btw)[,:]?\s+",
    re.IGNORECASE,
)
_MIN_CJK = 2
_MIN_WORDS = 2
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+")


def _substantial(part: str) -> bool:
    return len(_CJK.findall(part)) >= _MIN_CJK or len(_WORD.findall(part)) >= _MIN_WORDS


def split_questions(text: str) -> list[str]:
    """The message cut into its questions (one part when nothing joins two), at most MAX_PARTS."""
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        for piece in _ZH_JOIN.split(sentence):
            parts.extend(_EN_JOIN.split(piece))
    parts = [p.strip(" ，,。.;；") for p in parts]
    parts = [p for p in parts if p and _substantial(p)]
    return parts if 2 <= len(parts) <= MAX_PARTS else [text]


def questions(parsed: Sequence[NluResult]) -> list[NluResult]:
    """The parsed parts that ask a question, one per intent, in order; [] when fewer than two remain."""
    kept: list[NluResult] = []
    for part in parsed:
        if part.intent not in NOT_A_QUESTION and all(k.intent != part.intent for k in kept):
            kept.append(part)
    return kept if len(kept) >= 2 else []
