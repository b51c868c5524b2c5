"""The rules of satisfaction surveys (core.feedback.survey_rules), pure: one survey per conversation and a few a
day per customer, never with a person on the line, a low score, expiry, the owner of a follow-up, which answers
a survey may follow, and the rules read from the settings with payloads that fit Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.config import Settings
from core.feedback.survey_rules import (
    ANSWERED_INTENTS,
    SurveyRules,
    answers_a_question,
    aspect_payload,
    awaits_answer,
    followup_owner,
    is_expired,
    is_low,
    may_offer,
    payload,
)
from core.models.enums import FeedbackAspect

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_one_survey_per_conversation_a_few_a_day_and_never_with_a_person_on_the_line() -> None:
    assert may_offer(in_conversation=False, sent_recently=0, per_day=1, person_on_line=False)
    assert not may_offer(in_conversation=True, sent_recently=0, per_day=1, person_on_line=False)
    assert not may_offer(in_conversation=False, sent_recently=1, per_day=1, person_on_line=False)
    assert may_offer(in_conversation=False, sent_recently=1, per_day=2, person_on_line=False)
    assert not may_offer(in_conversation=False, sent_recently=0, per_day=1, person_on_line=True)


@given(
    in_conversation=st.booleans(),
    sent_recently=st.integers(0, 10),
    per_day=st.integers(1, 5),
    person_on_line=st.booleans(),
)
def test_a_day_of_surveys_never_exceeds_the_limit(
    in_conversation: bool, sent_recently: int, per_day: int, person_on_line: bool
) -> None:
    allowed = may_offer(
        in_conversation=in_conversation, sent_recently=sent_recently, per_day=per_day, person_on_line=person_on_line
    )
    assert allowed == (not in_conversation and not person_on_line and sent_recently + 1 <= per_day)


@given(score=st.integers(1, 5), low=st.integers(1, 4))
def test_a_low_score_is_at_or_under_the_setting(score: int, low: int) -> None:
    assert is_low(score, low) == (score <= low)
    assert is_low(1, low) and not is_low(5, low)  # one star is always low, five never


def test_expiry_low_scores_and_the_owner_of_a_follow_up() -> None:
    expires = NOW + timedelta(hours=24)
    assert not is_expired(expires, expires - timedelta(seconds=1))
    assert is_expired(expires, expires)
    assert [is_low(score, 2) for score in range(1, 6)] == [True, True, False, False, False]
    assert [is_low(score, 3) for score in range(1, 6)] == [True, True, True, False, False]
    assert followup_owner(manager_id=7, agent_id=3) == 7  # first-contact ownership: the key account's manager
    assert followup_owner(manager_id=None, agent_id=3) == 3
    assert followup_owner(manager_id=None, agent_id=None) is None  # the supervisors' queue


def test_which_answers_a_survey_may_follow() -> None:
    assert awaits_answer([{"title": "取消", "payload": "cancel"}])  # a form's question: not the end of it
    assert not awaits_answer([{"title": "★★★★★", "payload": "survey:1:5"}]) and not awaits_answer([])
    assert all(answers_a_question(intent) for intent in ANSWERED_INTENTS)
    assert answers_a_question("faq_ev_charger")
    for intent in (None, "greet", "thanks", "report_fault", "human_handoff", "complaint", "nlu_fallback"):
        assert not answers_a_question(intent)


def test_rules_from_settings_and_payloads_fit_telegram() -> None:
    rules = SurveyRules.from_settings(
        Settings(
            env="test",
            survey_quiet_minutes=5,
            survey_per_day=2,
            survey_expiry_hours=12,
            survey_low_score=3,
            followup_due_hours=48,
        )
    )
    assert rules == SurveyRules(timedelta(minutes=5), 2, timedelta(hours=12), 3, timedelta(hours=48))
    assert payload(2**31 - 1, 5) == "survey:2147483647:5"
    assert len(aspect_payload(2**31 - 1, FeedbackAspect.COMPLAINT).encode()) <= 64
