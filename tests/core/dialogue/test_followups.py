"""Follow-ups in context (core.dialogue.followups): which question a short message asks, for which months."""

from __future__ import annotations

from core.dialogue.followups import FollowUp, is_elliptical, resolve
from core.dialogue.periods import MonthRange

AUGUST = MonthRange.one(2026, 8)
SEPTEMBER = MonthRange.one(2026, 9)


def test_a_period_alone_asks_the_last_topic_again() -> None:
    assert resolve("inform", "那8月呢", AUGUST, "bill_amount", SEPTEMBER) == FollowUp("bill_amount")
    assert resolve("inform", "and then?", None, "usage_query", SEPTEMBER) == FollowUp("usage_query", SEPTEMBER)
    # the model unsure, but the message is short and names a period: the same
    assert resolve("nlu_fallback", "8月的呢", AUGUST, "usage_query", SEPTEMBER) == FollowUp("usage_query")


def test_a_period_alone_without_a_topic_stays_a_question_to_ask_back() -> None:
    assert resolve("inform", "那8月呢", AUGUST, None, None) == FollowUp("inform")
    assert resolve("inform", "and august?", AUGUST, "payment_methods", None) == FollowUp("inform")


def test_another_billing_topic_keeps_the_months_the_same_topic_does_not() -> None:
    assert resolve("usage_query", "用了多少度", None, "bill_amount", SEPTEMBER) == FollowUp("usage_query", SEPTEMBER)
    assert resolve("bill_explain", "why so high?", None, "bill_amount", SEPTEMBER) == FollowUp(
        "bill_explain", SEPTEMBER
    )
    assert resolve("usage_query", "用电量", None, "usage_query", SEPTEMBER) == FollowUp("usage_query")
    assert resolve("outage_status", "停电了吗", None, "bill_amount", SEPTEMBER) == FollowUp("outage_status")


def test_a_long_or_self_contained_question_is_not_a_follow_up() -> None:
    long = "我想知道我家最近这几个月的用电量到底是多少度电"
    assert not is_elliptical(long)
    assert resolve("usage_query", long, None, "bill_amount", SEPTEMBER) == FollowUp("usage_query")
    assert resolve("out_of_scope", "明天天气怎么样", None, "bill_amount", SEPTEMBER) == FollowUp("out_of_scope")


def test_the_remembered_months_survive_the_state_round_trip() -> None:
    assert MonthRange.from_key(SEPTEMBER.key) == SEPTEMBER
    assert MonthRange.from_key("2026-01..2026-06") == MonthRange("2026-01", "2026-06")
    assert MonthRange.from_key(None) is None and MonthRange.from_key("garbage") is None
