"""The NLU client against a real HTTP server on 127.0.0.1 playing Rasa: threshold, retry, circuit breaker,
timeout, normalisation. Each test gives the server its own handler for `POST /model/parse`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from core.ports import NluUnavailable
from nlu.client import CircuitBreaker, RasaNluClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


def rasa_reply(name: str, confidence: float, entities: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "text": "x",
        "intent": {"name": name, "confidence": confidence},
        "entities": entities or [],
        "intent_ranking": [{"name": name, "confidence": confidence}],
    }


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a Rasa stand-in answering `POST /model/parse` (and `GET /status`) with the given handlers; its base
    URL. A hung handler is cancelled when the client gives up the connection, so the server stops at once."""
    runners: list[web.AppRunner] = []

    async def start(parse: Handler, *, status: Handler | None = None) -> str:
        app = web.Application()
        app.router.add_post("/model/parse", parse)
        if status is not None:
            app.router.add_get("/status", status)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def answer(reply: dict[str, object], status: int = 200) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(reply, status=status)

    return handler


async def test_parse_sends_normalised_text_and_maps_entities(serve: Serve) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((await request.json())["text"])
        ents = [{"entity": "account_number", "value": "3301234567", "start": 5, "end": 15, "extractor": "x"}]
        return web.json_response(rasa_reply("bind_account", 0.97, ents))

    client = RasaNluClient(await serve(handler))
    result = await client.parse("我的戶號是３３０１２３４５６７")
    await client.aclose()
    assert seen == ["我的户号是3301234567"]
    assert result.intent == "bind_account"
    assert result.entity("account_number") == "3301234567"
    assert result.to_dict()["entities"] == [{"entity": "account_number", "value": "3301234567", "start": 5, "end": 15}]


async def test_low_confidence_becomes_nlu_fallback(serve: Serve) -> None:
    client = RasaNluClient(await serve(answer(rasa_reply("greet", 0.41))), threshold=0.6)
    result = await client.parse("嗯")
    await client.aclose()
    assert (result.intent, result.raw_intent) == ("nlu_fallback", "greet")


async def test_a_json_body_is_read_whatever_its_content_type(serve: Serve) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(rasa_reply("greet", 0.9), content_type="text/plain")

    client = RasaNluClient(await serve(handler))
    result = await client.parse("你好")
    await client.aclose()
    assert result.intent == "greet"


async def test_a_body_that_is_not_json_is_retried_once_then_unavailable(serve: Serve) -> None:
    calls = 0

    async def proxy_page(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(text="<html>Bad Gateway</html>", content_type="text/html")

    client = RasaNluClient(await serve(proxy_page))
    with pytest.raises(NluUnavailable):
        await client.parse("你好")
    await client.aclose()
    assert calls == 2


async def test_ready_once_rasa_has_loaded_a_model(serve: Serve) -> None:
    greet = answer(rasa_reply("greet", 0.9))
    loaded = await serve(greet, status=answer({"model_file": "models/nlu.tar.gz"}))
    loading = await serve(greet, status=answer({"model_file": None}))
    failing = await serve(greet, status=answer({"model_file": "models/nlu.tar.gz"}, status=500))
    clients = [RasaNluClient(url) for url in (loaded, loading, failing)]
    never_opened = RasaNluClient(loaded)
    assert [await c.ready() for c in clients] == [True, False, False]
    for client in [*clients, never_opened]:
        await client.aclose()  # safe on a client that never made a call


async def test_one_retry_then_unavailable_and_the_breaker_opens(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        assert request.transport is not None
        request.transport.close()  # the connection drops before any answer
        return web.Response()

    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30, monotonic=lambda: now[0])
    client = RasaNluClient(await serve(handler), breaker=breaker)
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


async def test_a_retry_that_succeeds_resets_the_breaker(serve: Serve) -> None:
    failed = web.json_response({"message": "bad gateway"}, status=502)  # JSON, but an error all the same
    replies = iter([failed, web.json_response(rasa_reply("greet", 0.9))])

    async def handler(_request: web.Request) -> web.Response:
        return next(replies)

    client = RasaNluClient(await serve(handler))
    assert (await client.parse("你好")).intent == "greet"
    assert not client.breaker.open
    await client.aclose()


async def test_the_timeout_bounds_the_whole_parse_retry_included(serve: Serve) -> None:
    calls = 0

    async def hung(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)  # a server that accepted the request and never answers
        return web.json_response(rasa_reply("greet", 0.9))

    client = RasaNluClient(await serve(hung), timeout=0.2)
    started = time.monotonic()
    with pytest.raises(NluUnavailable, match=r"no answer within 0\.2 s"):
        await client.parse("你好")
    elapsed = time.monotonic() - started
    await client.aclose()
    assert elapsed < 0.4  # not 0.2 s for the call and 0.2 s more for the retry
    assert calls == 1  # the call used up the time: no retry


async def test_a_message_with_two_questions_is_parsed_part_by_part_and_reports_both(serve: Serve) -> None:
    intents = {"查下这个月电费,顺便问下最近有没有计划停电": ("planned_outage_query", 0.7)}  # as normalised
    intents |= {"查下这个月电费": ("bill_amount", 0.9), "最近有没有计划停电": ("planned_outage_query", 0.95)}

    async def handler(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        return web.json_response(rasa_reply(*intents[text]))

    client = RasaNluClient(await serve(handler))
    result = await client.parse("查下这个月电费，顺便问下最近有没有计划停电")
    single = await client.parse("查下这个月电费")
    await client.aclose()
    assert result.intent == "planned_outage_query"  # the whole message's intent stays on top
    assert [(p["text"], p["name"]) for p in result.to_dict()["intents"]] == [  # type: ignore[attr-defined]
        ("查下这个月电费", "bill_amount"),
        ("最近有没有计划停电", "planned_outage_query"),
    ]
    assert single.parts == () and single.to_dict()["intents"] == []
