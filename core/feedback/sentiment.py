"""The sentiment of a free-text feedback comment (pure): positive, neutral or negative, from the words used.

This is a small hand-written lexicon of utility customer service in Chinese (simplified and traditional) and
English with a handful of rules; the lexicon's words and weights are data, lexicon.yml beside this module,
read once at first use. It is NOT a model and it will get some comments wrong: it misses sarcasm
("谢谢你们让我在黑暗里过了三天", "great, another outage"), irony, and any praise or complaint in words it
does not list. It sorts comments for staff (complaints first, a count per week); it does not judge customers.

How a comment is read (`score`):

1. Normalised: full-width → half-width (NFKC), lower case, traditional → simplified for the characters the
   lexicon uses (`_TRADITIONAL`), "n't" / "cannot" / "dont" → "not", emoji modifiers dropped.
2. Cut into units — a Chinese character, an English word, an emoji or emoticon, a clause or sentence break —
   and read left to right, taking the longest lexicon entry at each point: "不错" is a word of its own, not
   不 + 错; "特别" is not 特 + 别; "no complaints" is not no + complaints.
3. Scored. Every word has a weight (+ praise, − complaint). A negator (不, 没, 没有, 不太, 一点也不; not,
   never, no, n't) flips the next word within `NEGATION_WINDOW` units of its clause ("不及时", "not helpful",
   "not bad"); a prohibitive one (别, 不要) flips praise but leaves a complaint a complaint ("别再敷衍了").
   An intensifier (很, 非常, 太, 有点; very, so, a bit) scales the next word; one after a word (死了, 极了;
   so much) scales that word. After a contrast (但是, 不过, 可是, 却; but, however) everything before counts
   half; a concessive clause (虽然; although) counts a quarter less. In a wish, a request or a question
   (希望, 建议, 请, 能不能, …吗, …?; hope, should, please, …?) praise does not count ("希望能及时通知" is no
   praise) but complaints do. Emoji and emoticons (👍 😊 😡 👎 :( ) score like words and are never negated.
4. The sum decides: above `THRESHOLD` positive, below −`THRESHOLD` negative, else neutral — so a comment
   with no scoring word, or with praise and complaint of the same weight, is neutral.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.models.enums import Sentiment

THRESHOLD = 0.3  # a score between -THRESHOLD and THRESHOLD is neutral
NEGATION_WINDOW = 3  # a negator reaches the word this many units ahead (intensifiers in between not counted)
INTENSIFIER_WINDOW = 2
NEGATED_PRAISE = -0.75  # "不及时", "not helpful": a complaint, a little weaker than the plain word
NEGATED_COMPLAINT = -0.4  # "不慢", "not bad": faint praise
CONTRAST = 0.5  # what came before 但是 / but counts half
CONCESSIVE = 0.75  # a 虽然 / although clause counts a quarter less


class Kind(StrEnum):
    WORD = "word"  # scores; a negator flips it
    EMOJI = "emoji"  # scores; never negated, counts in a wish or a question too
    NEGATOR = "negator"  # flips the next word (weight: how strongly)
    PROHIBITIVE = "prohibitive"  # 别 / 不要: flips praise, a complaint stays a complaint
    INTENSIFIER = "intensifier"  # scales the next word
    AFTER = "after"  # scales the word just before it (慢死了, thanks so much)
    CONTRAST = "contrast"  # 但是 / but: everything before counts less
    CONCESSIVE = "concessive"  # 虽然 / although: this clause counts less
    IRREALIS = "irrealis"  # 希望 / please: praise in the rest of the sentence does not count
    NEUTRAL = "neutral"  # looks like a word or a negator and is neither (你好, 不客气, 别人, not only)
    BREAK = "break"  # a clause break (, ; :) — ends a negation's or an intensifier's reach


@dataclass(frozen=True)
class Term:
    kind: Kind
    weight: float = 0.0


# ------------------------------------------------------------------------------------------------ the lexicon
# The words and their weights are data: lexicon.yml beside this module, read once (at first use).
LEXICON_FILE = Path(__file__).resolve().parent / "lexicon.yml"
LANGUAGES = ("zh", "en")
# Its tables keyed by a weight (and the sign that weight takes), then its plain lists.
_SCORED = (
    ("positive", Kind.WORD, 1.0),
    ("negative", Kind.WORD, -1.0),
    ("negators", Kind.NEGATOR, 1.0),
    ("intensifiers", Kind.INTENSIFIER, 1.0),
    ("after", Kind.AFTER, 1.0),
)
_PLAIN = (
    ("prohibitive", Kind.PROHIBITIVE),
    ("contrast", Kind.CONTRAST),
    ("concessive", Kind.CONCESSIVE),
    ("irrealis", Kind.IRREALIS),
    ("neutral", Kind.NEUTRAL),
)

# Traditional (and Hong Kong / Taiwan) spellings of the lexicon's characters → simplified: folded before
# reading, so "態度很差" reads as "态度很差" (and 嗎 ends a question). A test checks that every entry spelt
# s2t / s2tw / s2hk reads the same. 著 and 覆 are also simplified characters; folding them is harmless here.
_TRADITIONAL = """
    並并 亂乱 來来 係系 個个 傷伤 僅仅 價价 儘尽 償偿 優优 兇凶 兒儿 凍冻 別别 剛刚 勁劲 動动 務务 區区 卻却 厭厌
    問问 單单 噁恶 夠够 實实 寶宝 將将 專专 對对 幫帮 幾几 從从 復复 惡恶 態态 憤愤 應应 掛挂 揚扬 損损 斷断 時时
    會会 業业 極极 樣样 歡欢 氣气 決决 沒没 況况 涼凉 湊凑 準准 溫温 滿满 為为 無无 煩烦 熱热 爛烂 爲为 當当 盡尽
    確确 禮礼 簡简 級级 細细 給给 經经 總总 繫系 罵骂 聯联 職职 聽听 興兴 著着 處处 蠻蛮 複复 覆复 見见 討讨 許许
    訴诉 評评 話话 該该 詳详 認认 語语 誤误 說说 説说 諉诿 請请 論论 謂谓 謝谢 識识 譜谱 議议 豈岂 負负 責责 貴贵
    費费 貼贴 賠赔 贊赞 趕赶 較较 這这 進进 過过 遞递 遲迟 還还 錯错 開开 間间 關关 雖虽 雜杂 離离 難难 電电 順顺
    頻频 題题 額额 願愿 類类 騙骗 魯鲁 麼么 點点 嗎吗 飯饭
"""


# ------------------------------------------------------------------------------------------- building it
@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    """lexicon.yml as written: {"zh": {table: ...}, "en": {table: ...}, "emoji": {weight: [...]}}."""
    with LEXICON_FILE.open(encoding="utf-8") as handle:
        tables: dict[str, Any] = yaml.safe_load(handle)
    return tables


def _entries() -> Iterator[tuple[str, Term]]:
    tables = _tables()
    scored = [(tables[language][name], kind, sign) for name, kind, sign in _SCORED for language in LANGUAGES]
    for table, kind, sign in [*scored, (tables["emoji"], Kind.EMOJI, 1.0)]:
        for weight, words in table.items():
            for word in words:
                yield word, Term(kind, sign * weight)
    for name, kind in _PLAIN:
        for language in LANGUAGES:
            for word in tables[language][name]:
                yield word, Term(kind, 1.0)


@lru_cache(maxsize=1)
def lexicon() -> dict[tuple[str, ...], Term]:
    """Every entry, keyed by its units (as `units` cuts it). An entry listed twice is a mistake."""
    table: dict[tuple[str, ...], Term] = {}
    for word, term in _entries():
        key = tuple(units(word, squeeze=False))
        if not key or key in table:
            raise ValueError(f"sentiment lexicon: {word!r} is empty or listed twice")
        table[key] = term
    return table


@lru_cache(maxsize=1)
def _longest() -> int:
    return max(len(key) for key in lexicon())


@lru_cache(maxsize=1)
def _folding() -> dict[int, str]:
    return {ord(pair[0]): pair[1] for pair in _TRADITIONAL.split()}


# ---------------------------------------------------------------------------------------------- reading it
_NOT = (
    (re.compile(r"\bcan't\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\b(do|does|did|is|was|are|were|could|would|should|has|have|had)nt\b"), r"\1 not"),
    (re.compile(r"\bcant\b"), "can not"),
    (re.compile(r"\bwont\b"), "will not"),
)
_MODIFIERS = re.compile("[\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff]")
_SENTENCE_END = frozenset(".!?。！？\n")
_CLAUSE_BREAK = frozenset(',;:、，；：~()[]"“”—-')
_REPEATS = re.compile(r"([a-z])\1{2,}")


@lru_cache(maxsize=1)
def _unit() -> re.Pattern[str]:
    """One unit of text; the lexicon's emoticons (":)", "<3") are units of their own."""
    emoji = _tables()["emoji"]
    emoticons = sorted((e for e in emoji[1.0] + emoji[-1.0] if e.isascii()), key=len, reverse=True)
    return re.compile(
        "|".join(
            (r"(?<![a-z0-9])" if e[0].isalnum() else "") + re.escape(e) + (r"(?![a-z0-9])" if e[-1].isalnum() else "")
            for e in emoticons
        )
        + r"|[\U0001f000-\U0001faff\u2600-\u27bf\u2b50\u2b55]"  # an emoji
        + r"|[a-z0-9]+(?:'[a-z]+)?"  # an English word
        + r"|[\u3400-\u4dbf\u4e00-\u9fff]"  # a Chinese character
        + r"|[.!?。！？\n]+"  # the end of a sentence
        + r"|[,;:、，；：~()\[\]\"“”—-]"  # a clause break
    )


def normalise(text: str) -> str:
    """Half-width, lower case, simplified script (for the lexicon's characters), "n't" → " not"."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    text = _MODIFIERS.sub("", text.translate(_folding()))
    for pattern, replacement in _NOT:
        text = pattern.sub(replacement, text)
    return text


def units(text: str, squeeze: bool = True) -> Iterator[str]:
    """The units of text, normalised: words, characters, emoji; "." ends a sentence ("?" a question), ","
    a clause. Squeezed, "soooo sloooow" reads as "so slow"."""
    for match in _unit().finditer(normalise(text)):
        unit = match.group()
        if unit[0] in _SENTENCE_END:
            yield "?" if "?" in unit or "？" in unit else "."
        elif unit in _CLAUSE_BREAK:
            yield ","
        else:
            yield _squeezed(unit) if squeeze else unit


def _squeezed(word: str) -> str:
    if not _REPEATS.search(word):
        return word
    for candidate in (_REPEATS.sub(r"\1\1", word), _REPEATS.sub(r"\1", word)):
        if (candidate,) in lexicon():
            return candidate
    return _REPEATS.sub(r"\1", word)


def _sentences(text: str) -> Iterator[tuple[list[str], bool]]:
    """(units, is it a question) per sentence."""
    sentence: list[str] = []
    for unit in [*units(text), "."]:
        if unit not in (".", "?"):
            sentence.append(unit)
            continue
        if sentence:
            yield sentence, unit == "?" or sentence[-1] == "吗"
        sentence = []


def _terms(sentence: list[str]) -> Iterator[tuple[str, Term | None]]:
    """The longest lexicon entry at each point; a unit that starts none comes out alone (None)."""
    table, i = lexicon(), 0
    while i < len(sentence):
        if sentence[i] == ",":
            yield ",", Term(Kind.BREAK)
            i += 1
            continue
        for length in range(min(_longest(), len(sentence) - i), 0, -1):
            term = table.get(tuple(sentence[i : i + length]))
            if term is not None:
                yield "".join(sentence[i : i + length]), term
                i += length
                break
        else:
            yield sentence[i], None
            i += 1


# ------------------------------------------------------------------------------------------------ scoring
@dataclass
class _Reading:
    """What is pending while one sentence is read."""

    question: bool
    wish: bool = False  # after 希望 / please, until a contrast
    concessive: bool = False  # in a 虽然 / although clause
    negation: float | None = None  # -1 × the negator's weight (+ after a double negation)
    prohibitive: bool = False
    steps: int = 0  # units read since the negator
    boost: float | None = None
    boost_steps: int = 0  # units read since the intensifier
    last_word: int | None = None  # index in the scores of the word just read (for 死了, so much)

    def step(self) -> None:
        self.steps, self.boost_steps = self.steps + 1, self.boost_steps + 1

    def negation_now(self) -> float | None:
        return self.negation if self.negation is not None and self.steps <= NEGATION_WINDOW else None

    def boost_now(self) -> float:
        return self.boost if self.boost is not None and self.boost_steps <= INTENSIFIER_WINDOW else 1.0

    def clause_break(self) -> None:
        self.negation, self.boost, self.concessive, self.last_word = None, None, False, None


def _read(sentence: list[str], question: bool, scores: list[float]) -> None:
    """Add the scores of one sentence's words to `scores` (a contrast also lowers those already there)."""
    reading = _Reading(question=question)
    terms = list(_terms(sentence))
    for i, (text, term) in enumerate(terms):
        if term is None or term.kind is Kind.NEUTRAL:
            reading.step()
            reading.last_word = None
            continue
        following = terms[i + 1][1] if i + 1 < len(terms) else None
        if text == "好" and following is not None and following.kind is Kind.WORD:
            term = Term(Kind.INTENSIFIER, 1.5)  # 好快, 好慢: "so", not "good"
        match term.kind:
            case Kind.BREAK:
                reading.clause_break()
            case Kind.CONTRAST:
                scores[:] = [score * CONTRAST for score in scores]
                reading.clause_break()
                reading.wish = False
            case Kind.CONCESSIVE:
                reading.concessive = True
            case Kind.IRREALIS:
                reading.wish = True
            case Kind.NEGATOR | Kind.PROHIBITIVE:
                reading.negation = -term.weight * (reading.negation_now() or 1.0)
                reading.prohibitive, reading.steps = term.kind is Kind.PROHIBITIVE, 0
            case Kind.INTENSIFIER:
                reading.boost, reading.boost_steps = term.weight * reading.boost_now(), 0
            case Kind.AFTER:
                if reading.last_word is not None:
                    scores[reading.last_word] *= term.weight
                reading.last_word = None
            case Kind.WORD | Kind.EMOJI:
                reading.step()
                scores.append(_word(term, reading))
                reading.last_word = len(scores) - 1


def _word(term: Term, reading: _Reading) -> float:
    """The score of one word in its place; it uses up the pending negation and intensifier."""
    concessive = CONCESSIVE if reading.concessive else 1.0
    if term.kind is Kind.EMOJI:
        return term.weight * concessive
    score = term.weight * reading.boost_now()
    negation = reading.negation_now()
    if negation is not None and not (reading.prohibitive and score < 0):
        score *= negation * (-NEGATED_PRAISE if score > 0 else -NEGATED_COMPLAINT)
    reading.negation, reading.boost = None, None
    if score > 0 and (reading.wish or reading.question):
        return 0.0  # 希望能及时 / is it fixed? is no praise
    return score * concessive


def score(text: str) -> float:
    """The comment's score: the sum of its words' weights in their places (see the module's docstring)."""
    scores: list[float] = []
    for sentence, question in _sentences(text):
        _read(sentence, question, scores)
    return sum(scores)


def sentiment_of(text: str) -> Sentiment:
    """Positive, neutral or negative: what a free-text comment's words say about the service."""
    value = score(text)
    if value > THRESHOLD:
        return Sentiment.POSITIVE
    if value < -THRESHOLD:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL
