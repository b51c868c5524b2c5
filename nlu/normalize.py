"""Text normalisation applied before a message reaches Rasa: what was trained is what is parsed."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import opencc


@dataclass(frozen=True)
class Normalized:
    text: str
    truncated: bool


@lru_cache(maxsize=1)
def _t2s() -> Any:
    return opencc.OpenCC("t2s")


def normalize(text: str, max_chars: int = 500) -> Normalized:
    """Traditional → simplified Chinese, full-width → half-width (NFKC), whitespace folded, length capped."""
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    text = _t2s().convert(text)
    truncated = len(text) > max_chars
    return Normalized(text=text[:max_chars], truncated=truncated)


def positions(text: str) -> list[int] | None:
    """Where each character of normalize(text).text (before the length cap) came from: its index in `text`.
    None when the normalisation cannot be followed character by character (a combining sequence NFKC composes,
    a Chinese conversion that changes the length): rare."""
    kept: list[tuple[int, str]] = []  # (index in text, one normalised character)
    for index, char in enumerate(text):
        for out in unicodedata.normalize("NFKC", char):
            if not out.isspace():
                kept.append((index, out))
            elif kept and kept[-1][1] != " ":
                kept.append((index, " "))  # a run of whitespace becomes one space; none at the start
    if kept and kept[-1][1] == " ":
        kept.pop()  # nor at the end
    folded = "".join(char for _, char in kept)
    converted = _t2s().convert(folded)
    if len(converted) != len(folded) or converted != normalize(text, max_chars=len(text) + 1).text:
        return None
    return [index for index, _ in kept]


def as_typed(parsed: dict[str, Any], text: str) -> dict[str, Any]:
    """A parse of normalize(text) in Rasa's /model/parse shape told of `text` as it was typed: its "text" is
    `text`, and each entity's start and end index `text` (the entity's value stays the normalised one). Left
    as it is when the normalisation cannot be followed (positions() is None)."""
    where = positions(text)
    if where is None:
        return parsed
    entities = [
        {**e, "start": where[e["start"]], "end": where[e["end"] - 1] + 1}
        for e in parsed.get("entities", [])
        if 0 <= e["start"] < e["end"] <= len(where)
    ]
    return {**parsed, "text": text, "entities": entities}
