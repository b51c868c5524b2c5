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
