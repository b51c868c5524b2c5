"""The rules of satisfaction surveys (pure): which answers a survey may follow, whether one may be offered,
when it expires, what a low score is and who owns its follow-up, the payloads of its buttons, and
SurveyRules, the settings they are applied with. core.feedback.surveys (SurveyService) applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.models.enums import FeedbackAspect

if TYPE_CHECKING:
    from core.config import Settings

STARS = range(1, 6)
PAYLOAD = "survey"  # survey:<id>:<score> and survey:<id>:aspect:<supply|service|complaint>
ASPECT = "aspect"
# The questions whose answer ends a conversation well: billing, outages (and the FAQ topics, faq_*).
ANSWERED_INTENTS = frozenset(
    {
        "bill_amount",
        "bill_explain",
        "usage_query",
        "tariff_query",
        "payment_methods",
        "outage_status",
        "planned_outage_query",
    }
)
FAQ_PREFIX = "faq_"
CANCEL = "cancel"  # the payload of a form's Cancel button


def answers_a_question(intent: str | None) -> bool:
    """Whether the bot's answer to this intent is one a survey may follow (billing, outages, FAQ)."""
    return intent is not None and (intent in ANSWERED_INTENTS or intent.startswith(FAQ_PREFIX))


def awaits_answer(buttons: Sequence[Mapping[str, str]]) -> bool:
    """Whether a bot message waits for the customer (a form's question, with its Cancel button: "bind your
    account first"): the conversation has not ended, whatever intent it was about."""
    return any(button.get("payload") == CANCEL for button in buttons)


def may_offer(*, in_conversation: bool, sent_recently: int, per_day: int, person_on_line: bool) -> bool:
    """One survey per conversation, `per_day` per customer, none while a person has the conversation."""
    return not in_conversation and not person_on_line and sent_recently < per_day


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def is_low(score: int, low_score: int) -> bool:
    """A score that asks what went wrong and starts a follow-up."""
    return score <= low_score


def followup_owner(*, manager_id: int | None, agent_id: int | None) -> int | None:
    """First-contact ownership: the key account's manager, else the agent who handled it; None: the
    supervisors' queue."""
    return manager_id if manager_id is not None else agent_id


def payload(survey_id: int, score: int) -> str:
    return f"{PAYLOAD}:{survey_id}:{score}"


def aspect_payload(survey_id: int, aspect: FeedbackAspect) -> str:
    return f"{PAYLOAD}:{survey_id}:{ASPECT}:{aspect.value}"


@dataclass(frozen=True, slots=True)
class SurveyRules:
    quiet: timedelta
    per_day: int
    expiry: timedelta
    low_score: int
    followup_due: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SurveyRules:
        return cls(
            quiet=timedelta(minutes=settings.survey_quiet_minutes),
            per_day=settings.survey_per_day,
            expiry=timedelta(hours=settings.survey_expiry_hours),
            low_score=settings.survey_low_score,
            followup_due=timedelta(hours=settings.followup_due_hours),
        )
