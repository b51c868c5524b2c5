"""Keyword rules: how the bot understands customers while the NLU server is down."""

from __future__ import annotations

import pytest

from core.dialogue import keywords


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我家这个月电费多少", "bill_amount"),
        ("what's my balance", "bill_amount"),
        ("为什么电费这么高", "bill_explain"),
        ("why is my bill so high", "bill_explain"),
        ("上个月用了几度电", "usage_query"),
        ("峰谷电谷时段几点开始", "tariff_query"),
        ("不想跑营业厅，能自助缴费吗", "payment_methods"),
        ("how can I pay", "payment_methods"),
        ("现在停电了吗", "outage_status"),
        ("is there a power cut", "outage_status"),
        ("下个月有检修停电吗", "planned_outage_query"),
        ("总闸一推就跳", "report_fault"),
        ("门口电线掉地上了", "report_fault"),
        ("there are sparks from the socket", "report_fault"),
        ("报修两小时没人来，我要投诉", "complaint"),
        ("机器人解决不了，转人工", "human_handoff"),
        ("停电提前告诉我", "subscribe_notices"),
        ("别再推送了", "unsubscribe_notices"),
        ("欠费停电了怎么恢复", "faq_arrears_reconnection"),
        ("充电桩怎么装", "faq_ev_charger"),
        ("绑定户号", "bind_account"),
        ("3301234567", "bind_account"),
        ("你好", "greet"),
        ("謝謝", "thanks"),
        ("再见", "goodbye"),
        ("明天下雨吗", "nlu_fallback"),
    ],
)
def test_match_intent(text: str, intent: str) -> None:
    assert keywords.match_intent(text) == intent


def test_form_words() -> None:
    assert keywords.is_cancel("取消") and keywords.is_cancel(" Cancel! ") and not keywords.is_cancel("取消订阅")
    assert (
        keywords.yes_or_no("有") is True and keywords.yes_or_no("No.") is False and keywords.yes_or_no("嗯好像") is None
    )
    assert keywords.language_asked("English") == "en" and keywords.language_asked("中文") == "zh"
    assert keywords.language_asked("我想学英文") is None
    assert keywords.account_number_in("户号3301234567") == "3301234567"
    assert keywords.account_number_in("13905625633") is None  # a phone number is not an account number
    assert keywords.last4_in("尾号 5633") == "5633" and keywords.last4_in("it ends with 0042") == "0042"
    assert keywords.last4_in("12345") is None and keywords.last4_in("2026年10月电费") is None
    assert keywords.wants_unbind("解绑户号") and keywords.wants_unbind("unbind my account")


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("我报修的进度怎么样了", True),
        ("师傅什么时候到", True),
        ("what is the status of my repair", True),
        ("any update on my fault report?", True),
        ("when will the crew arrive", True),
        ("我要报修", False),
        ("my power is out", False),
        ("what is the status of the planned outage", False),
    ],
)
def test_asks_progress(text: str, asks: bool) -> None:
    assert keywords.asks_progress(text) is asks


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("where is my capacity increase application", True),
        ("where's our new connection request at", True),
        ("what is the status of my solar application", True),
        ("我的增容申请怎么样了", True),
        ("光伏并网申请批了吗", True),
        ("充电桩报装进度", True),
        ("how do I apply for a capacity increase", False),
        ("where can I apply for a new connection", False),
        ("what is the application process for rooftop solar", False),
        ("怎么申请增容", False),
        ("申请充电桩要什么材料", False),
    ],
)
def test_asks_own_application(text: str, own: bool) -> None:
    assert keywords.asks_own_application(text) is own


def test_second_opinion() -> None:
    assert keywords.second_opinion("nlu_fallback", "充电桩怎么装") == "faq_ev_charger"
    assert keywords.second_opinion("nlu_fallback", "明天下雨吗") == "nlu_fallback"
    assert keywords.second_opinion("faq_capacity_change", "where is my capacity increase application") == (
        "application_status"
    )
    assert keywords.second_opinion("faq_capacity_change", "怎么申请增容") == "faq_capacity_change"
    assert keywords.second_opinion("bill_amount", "我的增容申请怎么样了") == "bill_amount"  # only the applying topics
