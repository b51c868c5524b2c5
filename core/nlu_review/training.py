"""Turning annotated customer messages into Rasa NLU training examples: personal data replaced, the file merged.

Masking keeps what an example teaches and drops who wrote it:

- phone numbers (any common format, core.security's definition), account numbers and any run of 4+ digits
  become zeros of the same length — `13812345678` -> `00000000000`, `3301234567` -> `0000000000`,
  `尾号5678` -> `尾号0000` — so the shape that the regex features (a 10-digit account number, the last four
  digits of a phone) react to stays; a year written as one (`2026年`, `2026-10`, `October 2026`) is kept,
  because it teaches the period;
- email addresses become `user@example.com`;
- a name a customer gives after 我叫/我是/姓名/名字是 (2-4 Han characters) becomes 张三; a surname with a
  title (王先生, 李女士) becomes 张先生, 张女士; an English name after "my name is", "I am", "I'm", "this is"
  or a title (Mr, Mrs, Ms, Miss, Dr) becomes "Alex Smith" (Smith after a title);
- `[` and `]` become `(` and `)`, so a message never reads as Rasa's entity markup; whitespace is one space.

The training file is Rasa 3.1 NLU YAML (`version: "3.1"`, `nlu:` items `intent` + `examples: |`), one item
per intent, sorted; merging keeps what the file holds and adds the new examples, each text once: an
example annotated again with another intent moves to it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from core.security import mask_digits

HEADER = (
    '# Customer messages staff annotated in the console\'s "not understood" inbox, exported by\n'
    "# `gridtalk nlu export-annotations` with numbers, emails and names replaced. Each export merges into\n"
    "# this file (hand edits stay; a message annotated again moves to its new intent).\n"
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MASKED_RUN = re.compile(r"\d*\*+\d*")  # what mask_digits left of a phone or an account number
_SHORT = re.compile(r"(?<![\d*])\d{4,9}(?![\d*])")
_YEAR = re.compile(r"(?:19|20)\d{2}")
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?,?\s$"
)
_ZH_NAME = re.compile(
    r"(?P<cue>我叫|我是|姓名[是为:：]?\s?|名字[是叫]?[:：]?\s?)(?P<name>[\u4e00-\u9fff]{2,4}?)(?=[，,。.!！?？\s]|$)"
)
_ZH_TITLE = re.compile(r"[\u4e00-\u9fff](?<![老大小男女])(?P<title>先生|女士|小姐|师傅|阿姨)")
_EN_NAME = re.compile(
    r"(?i:\b(?P<cue>my name is|this is)\s+)(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b"
    r"|(?i:\b(?P<cue2>i am|i'm)\s+)(?P<name2>[A-Z][a-z]+\s+[A-Z][a-z]+)\b"  # "I am Angry" is not a name
)
_EN_TITLE = re.compile(r"\b(?P<title>Mr|Mrs|Ms|Miss|Dr)\.?\s+(?P<name>[A-Z][a-z]+)\b")
# A Chinese cue followed by a word that is not a name (我是户主, 我是来问...) is left alone.
_NOT_NAMES = frozenset(
    {"户主", "业主", "客户", "用户", "租户", "房东", "居民", "商户", "企业", "本人", "新用户", "老用户"}
)


def _keep_year(text: str, match: re.Match[str]) -> bool:
    start, end = match.span()
    if not _YEAR.fullmatch(match.group(0)):
        return False
    after, before = text[end : end + 2], text[max(0, start - 12) : start]
    return after[:1] == "年" or bool(re.match(r"[-/.]\d", after)) or bool(re.search(_MONTHS, before, re.I))


def _zero(match: re.Match[str]) -> str:
    return "0" * len(match.group(0))


def _zh_name(match: re.Match[str]) -> str:
    name = match.group("name")
    if name in _NOT_NAMES or any(name.startswith(w) for w in ("来", "想", "要", "在", "问", "个", "不")):
        return match.group(0)
    return match.group("cue") + "张三"


def mask_for_training(text: str) -> str:
    """One customer message as a training example: personal data replaced (see the module's docstring)."""
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.replace("[", "(").replace("]", ")").split())
    text = _EMAIL.sub("user@example.com", text)
    text = _MASKED_RUN.sub(_zero, mask_digits(text))
    text = _SHORT.sub(lambda m: m.group(0) if _keep_year(text, m) else _zero(m), text)
    text = _ZH_NAME.sub(_zh_name, text)
    text = _ZH_TITLE.sub(lambda m: "张" + m.group("title"), text)
    text = _EN_TITLE.sub(lambda m: f"{m.group('title')} Smith", text)
    return _EN_NAME.sub(_en_name, text)


def _en_name(match: re.Match[str]) -> str:
    group = "name" if match.group("name") else "name2"
    return match.group(0)[: match.start(group) - match.start(0)] + "Alex Smith"


def read_examples(path: Path) -> dict[str, list[str]]:
    """The examples of a Rasa NLU YAML file by intent (empty when the file does not exist)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: dict[str, list[str]] = {}
    for item in data.get("nlu") or []:
        if isinstance(item, dict) and "intent" in item:
            lines = str(item.get("examples") or "").splitlines()
            examples = [line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")]
            found.setdefault(str(item["intent"]), []).extend(e for e in examples if e)
    return found


def merge(existing: Mapping[str, Iterable[str]], new: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """existing examples by intent + new (intent, example) pairs, later ones winning: each text once."""
    where: dict[str, str] = {}
    for intent, examples in existing.items():
        for example in examples:
            where[example] = intent
    for intent, example in new:
        where.pop(example, None)  # annotated again: it moves (to the end of its new intent)
        where[example] = intent
    merged: dict[str, list[str]] = {}
    for example, intent in where.items():
        merged.setdefault(intent, []).append(example)
    return dict(sorted(merged.items()))


def render(examples: Mapping[str, Iterable[str]]) -> str:
    """Rasa 3.1 NLU YAML, one `intent` item per intent, examples as a literal block."""
    out = [HEADER, 'version: "3.1"\n', "nlu:\n"]
    for intent, items in examples.items():
        out.append(f"- intent: {intent}\n  examples: |\n")
        out.extend(f"    - {example}\n" for example in items)
    return "".join(out)
