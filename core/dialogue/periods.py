"""A period as customers write it (上个月, 去年十二月, 近三个月, last month, October 2026) → calendar months.

Pure: relative to `today`, the date in the utility's timezone. The NLU hands us the span it found (the
`period` entity); when it found none, or the NLU is down, `find_period` looks for one in the whole message.
Months are "YYYY-MM". A span of several months (近三个月, this year) is a MonthRange over them; "the last N
months" are the N complete months before this one (bills are issued for complete months).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

CN_DIGITS = {"一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
EN_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
EN_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "twelve": 12}


MONTH_KEY = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])")


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift(year: int, month: int, delta: int) -> tuple[int, int]:
    """(year, month) moved by `delta` months."""
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def parse_month_key(key: str) -> tuple[int, int]:
    year, month = key.split("-")
    return int(year), int(month)


@dataclass(frozen=True, slots=True)
class MonthRange:
    first: str  # YYYY-MM
    last: str  # YYYY-MM, not before first

    @property
    def single(self) -> bool:
        return self.first == self.last

    def months(self) -> list[str]:
        year, month = parse_month_key(self.first)
        out: list[str] = []
        while (key := month_key(year, month)) <= self.last:
            out.append(key)
            year, month = shift(year, month, 1)
        return out

    @classmethod
    def one(cls, year: int, month: int) -> MonthRange:
        key = month_key(year, month)
        return cls(key, key)

    @property
    def key(self) -> str:
        """ "YYYY-MM..YYYY-MM", as the dialogue state keeps it (from_key reads it back)."""
        return f"{self.first}..{self.last}"

    @classmethod
    def from_key(cls, key: str | None) -> MonthRange | None:
        first, _, last = (key or "").partition("..")
        return cls(first, last) if MONTH_KEY.fullmatch(first) and MONTH_KEY.fullmatch(last) else None


def _cn_number(text: str) -> int | None:
    """1–12 written as digits or Chinese numerals (十, 十一, 十二, 三 ...)."""
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十") and len(text) == 2 and text[1] in CN_DIGITS:
        return 10 + CN_DIGITS[text[1]]
    if len(text) == 1 and text in CN_DIGITS:
        return CN_DIGITS[text]
    if text == "半":
        return None
    return None


def _relative_year(word: str, today: date) -> int | None:
    return {"今年": today.year, "去年": today.year - 1, "前年": today.year - 2, "明年": today.year + 1}.get(word)


def _latest(month: int, today: date) -> MonthRange:
    """A month named without a year: this year's, unless that is still to come."""
    year = today.year if month <= today.month else today.year - 1
    return MonthRange.one(year, month)


def _last_n(n: int, today: date) -> MonthRange:
    first = shift(today.year, today.month, -n)
    last = shift(today.year, today.month, -1)
    return MonthRange(month_key(*first), month_key(*last))


_CN_NUM = r"(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"((?:19|20)\d{2})年的?" + _CN_NUM + r"月"), "cn_year_month"),
    (re.compile(r"(今年|去年|前年|明年)的?" + _CN_NUM + r"月"), "cn_rel_year_month"),
    (re.compile(r"(?<!\d)((?:19|20)\d{2})[-/.](1[0-2]|0?[1-9])(?!\d)"), "iso"),
    (re.compile(r"(?<!\d)(1[0-2]|0?[1-9])/((?:19|20)\d{2})(?!\d)"), "month_slash_year"),
    (re.compile(r"上上[个]?月"), "minus2"),
    (re.compile(r"(?:前|近|最近|过去)(两|三|六|2|3|6|一|1)[个]?月"), "cn_last_n"),
    (re.compile(r"(?:最近|近|过去)半年"), "half_year"),
    (re.compile(r"上一?[个]?月"), "minus1"),
    (re.compile(r"(?:这|本|当)一?[个]?月"), "this_month"),
    (re.compile(r"下一?[个]?月"), "plus1"),
    (re.compile(r"(今年|去年|前年)(?:全年|一整年|一年)?"), "cn_year"),
    (re.compile(r"本年度?"), "this_year"),
    (re.compile(r"(?<![\d年])" + _CN_NUM + r"月份?"), "cn_month"),
    (re.compile(r"\bthe month before last\b"), "minus2"),
    (re.compile(r"\b(?:this|current) month\b"), "this_month"),
    (re.compile(r"\b(?:last|previous) month\b"), "minus1"),
    (re.compile(r"\bnext month\b"), "plus1"),
    (re.compile(r"\b(?:last|past|previous) (two|three|six|twelve|2|3|6|12) months\b"), "en_last_n"),
    (re.compile(r"\b(?:this|current) year\b"), "this_year"),
    (re.compile(r"\b(?:last|previous) year\b"), "last_year"),
    (
        re.compile(
            r"\b(january|february|march|april|may|june|july|august|september|october|november|december"
            r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?,?(?: ((?:19|20)\d{2})\b)?",
        ),
        "en_month",
    ),
]


def _upcoming(month: int, today: date) -> MonthRange:
    """A month named without a year, asked about what is to come (planned outages): this one or the next."""
    return MonthRange.one(today.year if month >= today.month else today.year + 1, month)


def _resolve(kind: str, match: re.Match[str], today: date, upcoming: bool = False) -> MonthRange | None:
    by_month = _upcoming if upcoming else _latest
    groups = match.groups()
    if kind == "cn_year_month":
        month = _cn_number(groups[1])
        return MonthRange.one(int(groups[0]), month) if month else None
    if kind == "cn_rel_year_month":
        year, month = _relative_year(groups[0], today), _cn_number(groups[1])
        return MonthRange.one(year, month) if year and month else None
    if kind == "iso":
        return MonthRange.one(int(groups[0]), int(groups[1]))
    if kind == "month_slash_year":
        return MonthRange.one(int(groups[1]), int(groups[0]))
    if kind in ("minus2", "minus1", "this_month", "plus1"):
        delta = {"minus2": -2, "minus1": -1, "this_month": 0, "plus1": 1}[kind]
        return MonthRange.one(*shift(today.year, today.month, delta))
    if kind == "cn_last_n":
        n = _cn_number(groups[0]) or 1
        return _last_n(n, today)
    if kind == "half_year":
        return _last_n(6, today)
    if kind == "en_last_n":
        word = groups[0]
        return _last_n(int(word) if word.isdigit() else EN_NUMBERS[word], today)
    if kind == "cn_year":
        year = _relative_year(groups[0], today)
        if year is None:
            return None
        last = today.month if year == today.year else 12
        return MonthRange(month_key(year, 1), month_key(year, last))
    if kind == "this_year":
        return MonthRange(month_key(today.year, 1), month_key(today.year, today.month))
    if kind == "last_year":
        return MonthRange(month_key(today.year - 1, 1), month_key(today.year - 1, 12))
    if kind == "cn_month":
        month = _cn_number(groups[0])
        return by_month(month, today) if month else None
    if kind == "en_month":
        month = EN_MONTHS[groups[0][:3]]
        if groups[1]:
            return MonthRange.one(int(groups[1]), month)
        if groups[0] == "may" and not re.search(r"\bin may\b", match.string):
            return None  # "may I pay by card" is not a period
        return by_month(month, today)
    return None


def _prepare(text: str) -> str:
    return text.strip().lower().replace("個", "个").replace("這", "这").replace("當", "当").replace("過", "过")


def find_period(text: str, today: date, upcoming: bool = False) -> MonthRange | None:
    """The first period found anywhere in `text` (also what normalises an NLU `period` entity)."""
    prepared = _prepare(text)
    best: tuple[int, MonthRange] | None = None
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(prepared):
            resolved = _resolve(kind, match, today, upcoming)
            if resolved is not None and (best is None or match.start() < best[0]):
                best = (match.start(), resolved)
                break
    return best[1] if best else None


def normalise_period(value: str | None, text: str, today: date, upcoming: bool = False) -> MonthRange | None:
    """The NLU's `period` entity when it makes sense, else whatever period the message itself names."""
    if value:
        found = find_period(value, today, upcoming)
        if found is not None:
            return found
    return find_period(text, today, upcoming)
