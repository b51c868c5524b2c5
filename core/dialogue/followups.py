"""Follow-ups in context: a short message continues the topic of the last answer.

Customers ask, then follow up in a few words: 2026年9月的电费是多少 → 那8月呢 (the bill again, for August),
用了多少度 (Augusts usage), 为什么这么高 (why Augusts bill is what it is). The dialogue state keeps the
last answer's topic and months (DialogueState.topic / .period); `resolve` decides, from what the NLU
understood of the new message, which question it asks and for which months. Pure: no I/O.

- An `inform` message (a period and no topic: 那8月呢 / and august?) asks the last topic again for its
  period; so does a short message the NLU could not place that names a period.
- A short question on another billing topic that names no period keeps the last billing answer's months
  (用了多少度 after September's bill is Septembers usage); the same topic again (用电量 after a months
  usage) or a long, self-contained question does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.dialogue.intents import FALLBACK, INFORM, OUT_OF_SCOPE
from core.dialogue.periods import MonthRange

BILL_TOPICS = frozenset({"bill_amount", "bill_explain", "usage_query"})
# Topics a period can continue ("and august?"), and every topic remembered for a follow-up.
PERIOD_TOPICS = BILL_TOPICS | {"planned_outage_query"}
OUTAGE_TOPICS = frozenset({"outage_status", "planned_outage_query"})  # a place can continue these
CONTEXT_TOPICS = PERIOD_TOPICS | OUTAGE_TOPICS | {"tariff_query", "payment_methods"}

# An elliptical message: a few words, a dozen characters (what people type right after an answer).
MAX_WORDS = 6
MAX_CJK = 12
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+")


def is_elliptical(text: str) -> bool:
    return len(_CJK.findall(text)) <= MAX_CJK and len(_WORD.findall(text)) <= MAX_WORDS


@dataclass(frozen=True, slots=True)
class FollowUp:
    intent: str  # the question the message asks
    carried: MonthRange | None = None  # the last answer's months, when the message asks about them again


def resolve(intent: str, text: str, period: MonthRange | None, topic: str | None, last: MonthRange | None) -> FollowUp:
    """`intent` and `period` as understood from the message alone; `topic` and `last` the last answer's."""
    continues = intent == INFORM or (intent in (FALLBACK, OUT_OF_SCOPE) and period is not None and is_elliptical(text))
    if continues and topic in PERIOD_TOPICS:
        return FollowUp(topic, last if period is None else None)
    if (
        period is None
        and last is not None
        and is_elliptical(text)
        and intent != topic
        and {intent, topic} <= BILL_TOPICS
    ):
        return FollowUp(intent, last)
    return FollowUp(intent)
