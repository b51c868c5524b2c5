"""The NLU client against a scripted HTTP transport: threshold, retry, circuit breaker, normalisation."""

from __future__ import annotations

import httpx
import pytest

from core.ports import NluUnavailable
from nlu.client import CircuitBreaker, RasaNluClient


def rasa_reply(name: str, confidence: float, entities: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "text": "x",
        "intent": {"name": name, "confidence": confidence},
        "entities": entities or [],
        "intent_ranking": [{"name": name, "confidence": confidence}],
    }


async def test_parse_sends_normalised_text_and_maps_entities() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        seen.append(json.loads(request.content)["text"])
        ents = [{"entity": "account_number", "value": "3301234567", "start": 5, "end": 15, "extractor": "x"}]
        return httpx.Response(200, json=rasa_reply("bind_account", 0.97, ents))

    client = RasaNluClient("http://rasa", transport=httpx.MockTransport(handler))
    result = await client.parse("我的戶號是３３０１２３４５６７")
    await client.aclose()
    assert seen == ["我的户号是3301234567"]
    assert result.intent == "bind_account"
    assert result.entity("account_number") == "3301234567"
    assert result.to_dict()["entities"] == [{"entity": "account_number", "value": "3301234567", "start": 5, "end": 15}]


async def test_low_confidence_becomes_nlu_fallback() -> None:
    client = RasaNluClient(
        "http://rasa",
        threshold=0.6,
        transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=rasa_reply("greet", 0.41))),
    )
    result = await client.parse("嗯")
    await client.aclose()
    assert (result.intent, result.raw_intent) == ("nlu_fallback", "greet")


async def test_one_retry_then_unavailable_and_the_breaker_opens() -> None:
    calls = 0

    def handler(_request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30, monotonic=lambda: now[0])
    client = RasaNluClient("http://rasa", breaker=breaker, transport=httpx.MockTransport(handler))
    for _ in range(2):
        with pytest.raises(NluUnavailable):
            await client.parse("停电了吗")
    assert calls == 4  # two calls, each with one retry
    with pytest.raises(NluUnavailable, match="circuit breaker"):
        await client.parse("停电了吗")
    assert calls == 4  # fails fast while open
    now[0] = 31.0
    with pytest.raises(NluUnavailable):
        await client.parse("停电了吗")
    assert calls == 6  # half-open: tried again
    await client.aclose()


async def test_a_retry_that_succeeds_resets_the_breaker() -> None:
    replies = iter([httpx.Response(502), httpx.Response(200, json=rasa_reply("greet", 0.9))])
    client = RasaNluClient("http://rasa", transport=httpx.MockTransport(lambda _r: next(replies)))
    assert (await client.parse("你好")).intent == "greet"
    assert not client.breaker.open
    await client.aclose()


async def test_the_timeout_bounds_the_whole_parse_retry_included() -> None:
    import asyncio
    import time

    calls = 0

    async def hung(_request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)  # a server that accepted the request and never answers
        return httpx.Response(200, json=rasa_reply("greet", 0.9))

    client = RasaNluClient("http://rasa", timeout=0.2, transport=httpx.MockTransport(hung))
    started = time.monotonic()
    with pytest.raises(NluUnavailable, match=r"no answer within 0\.2 s"):
        await client.parse("你好")
    elapsed = time.monotonic() - started
    await client.aclose()
    assert elapsed < 0.4  # not 0.2 s for the call and 0.2 s more for the retry
    assert calls == 1  # the call used up the time: no retry


async def test_a_message_with_two_questions_is_parsed_part_by_part_and_reports_both() -> None:
    intents = {"查下这个月电费,顺便问下最近有没有计划停电": ("planned_outage_query", 0.7)}  # as normalised
    intents |= {"查下这个月电费": ("bill_amount", 0.9), "最近有没有计划停电": ("planned_outage_query", 0.95)}

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        text = json.loads(request.content)["text"]
        return httpx.Response(200, json=rasa_reply(*intents[text]))

    client = RasaNluClient("http://rasa", transport=httpx.MockTransport(handler))
    result = await client.parse("查下这个月电费，顺便问下最近有没有计划停电")
    single = await client.parse("查下这个月电费")
    await client.aclose()
    assert result.intent == "planned_outage_query"  # the whole message's intent stays on top
    assert [(p["text"], p["name"]) for p in result.to_dict()["intents"]] == [  # type: ignore[union-attr]
        ("查下这个月电费", "bill_amount"),
        ("最近有没有计划停电", "planned_outage_query"),
    ]
    assert single.parts == () and single.to_dict()["intents"] == []
