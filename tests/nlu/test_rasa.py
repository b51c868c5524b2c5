"""The real Rasa server with the trained model: what customers say is understood (NLU contract)."""

from __future__ import annotations

import pytest

from nlu.client import RasaNluClient

pytestmark = pytest.mark.rasa


@pytest.fixture
async def nlu(rasa_url: str):  # type: ignore[no-untyped-def]
    client = RasaNluClient(rasa_url, timeout=10)
    yield client
    await client.aclose()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我家上个月电费多少", "bill_amount"),
        ("我家这个月电费多少", "bill_amount"),
        ("为什么电费这么高", "bill_explain"),
        ("现在停电了吗", "outage_status"),
        ("门口电线掉地上了", "report_fault"),
        ("已收到，已安排备用电源", "outage_ack"),
        ("why is my bill so high", "bill_explain"),
        ("is there a power cut in my area right now", "outage_status"),
        ("我要转人工", "human_handoff"),
    ],
)
async def test_intents(nlu: RasaNluClient, text: str, intent: str) -> None:
    assert (await nlu.parse(text)).intent == intent


async def test_bill_amount_with_period(nlu: RasaNluClient) -> None:
    result = await nlu.parse("我家上个月电费多少")
    assert result.intent == "bill_amount"
    assert result.entity("period") == "上个月"


async def test_traditional_binding_gives_the_account_number(nlu: RasaNluClient) -> None:
    result = await nlu.parse("我的戶號是3301234567，幫我綁定")
    assert result.intent == "bind_account"
    assert result.entity("account_number") == "3301234567"


async def test_a_phone_number_is_not_an_account_number(nlu: RasaNluClient) -> None:
    result = await nlu.parse("手机13912345678")
    assert result.entity("account_number") is None


@pytest.mark.parametrize(
    "text", ["今天天气怎么样", "给我讲个笑话", "去北京的机票多少钱", "what's the weather tomorrow"]
)
async def test_out_of_scope(nlu: RasaNluClient, text: str) -> None:
    assert (await nlu.parse(text)).intent in {"out_of_scope", "nlu_fallback"}
