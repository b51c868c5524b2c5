"""The web chat over HTTP (httpx ASGITransport): the DESIGN.md contract and the must-show flows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.models import FaultTicket, Identity
from core.templating import kwh, money
from tests.support.dialogue import PHRASES, bills_of, demo_account, demo_nlu, load_demo_data

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
async def http(settings: Settings, clock: FrozenClock, sessionmaker: Maker) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock=clock, nlu=demo_nlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def start(http: httpx.AsyncClient, language: str) -> str:
    response = await http.post("/api/v1/chat/sessions", json={"language": language})
    assert response.status_code == 201
    return str(response.json()["session_id"])


async def send(http: httpx.AsyncClient, session_id: str, **body: str) -> list[dict[str, object]]:
    response = await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json=body)
    assert response.status_code == 200, response.text
    replies: list[dict[str, object]] = response.json()["replies"]
    return replies


def joined(replies: list[dict[str, object]]) -> str:
    return "\n".join(str(r["text"]) for r in replies)


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_must_show_in_the_web_chat(
    http: httpx.AsyncClient, sessionmaker: Maker, demo: None, language: str
) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01", skip=3 if language == "zh" else 4)
    latest = (await bills_of(sessionmaker, account.id))[0]
    say = PHRASES[language]
    session_id = await start(http, language)

    replies = await send(http, session_id, text=say["bill_amount"])
    assert "¥" not in joined(replies)
    assert replies[0]["buttons"] == [{"title": "取消" if language == "zh" else "Cancel", "payload": "cancel"}]
    await send(http, session_id, text=account.number)
    refused = joined(await send(http, session_id, text="0000" if account.last4 != "0000" else "1111"))
    assert ("验证没有通过" if language == "zh" else "did not match") in refused
    bound = joined(await send(http, session_id, text=account.last4))
    assert ("验证通过" if language == "zh" else "Verified") in bound
    assert money(latest.amount) in joined(await send(http, session_id, text=say["bill_amount"]))
    explained = joined(await send(http, session_id, text=say["bill_explain"]))
    assert all(f"{kwh(line.kwh)}" in explained and money(line.amount) in explained for line in latest.lines)
    outage = joined(await send(http, session_id, text=say["outage_status"]))
    assert ("江南线" if language == "zh" else "BJ-F01") in outage
    replies = await send(http, session_id, text=say["report_fault"])
    async with sessionmaker() as session:
        own = select(FaultTicket).join(Identity, Identity.id == FaultTicket.identity_id)  # not the demo's storm
        [ticket] = list(await session.scalars(own.where(Identity.external_id == session_id)))
    assert ("安全第一" if language == "zh" else "Safety first") in str(replies[0]["text"])
    assert ticket.reference in str(replies[-1]["text"]) and ticket.urgent


async def test_buttons_and_the_message_history(http: httpx.AsyncClient, demo: None) -> None:
    session_id = await start(http, "en")
    menu = await send(http, session_id, payload="menu")
    pay = next(b for b in menu[0]["buttons"] if b["payload"] == "intent:payment_methods")  # type: ignore[union-attr]
    assert pay["title"] == "How to pay"
    answer = await send(http, session_id, payload="intent:payment_methods")
    assert "WeChat" in joined(answer)

    history = (await http.get(f"/api/v1/chat/sessions/{session_id}/messages")).json()["messages"]
    assert [(m["direction"], m["text"][:10]) for m in history] == [
        ("in", ""),
        ("out", "What can I"),
        ("in", "How to pay"),  # a pressed button is shown with its title
        ("out", "You can pa"),
    ]
    assert history[1]["buttons"] == menu[0]["buttons"] and history[0]["created_at"].startswith("2026-11-23T09:30")
    after = (await http.get(f"/api/v1/chat/sessions/{session_id}/messages", params={"after": history[1]["id"]})).json()
    assert [m["id"] for m in after["messages"]] == [history[2]["id"], history[3]["id"]]

    other = await start(http, "zh")  # another session sees none of it
    assert (await http.get(f"/api/v1/chat/sessions/{other}/messages")).json() == {"messages": []}


async def test_contract_errors(http: httpx.AsyncClient, sessionmaker: Maker) -> None:
    assert (await http.post("/api/v1/chat/sessions/nope/messages", json={"text": "hi"})).status_code == 404
    assert (await http.get("/api/v1/chat/sessions/nope/messages")).status_code == 404
    session_id = await start(http, "zh")
    url = f"/api/v1/chat/sessions/{session_id}/messages"
    assert (await http.post(url, json={"text": "hi", "payload": "menu"})).status_code == 422
    assert (await http.post(url, json={})).status_code == 422
    assert (await http.post(url, json={"text": "   "})).status_code == 422
    assert (await http.post(url, json={"payload": "x" * 65})).status_code == 422
    assert (await http.get(url, params={"after": -1})).status_code == 422


@pytest.mark.parametrize(
    ("lang", "title", "placeholder"),
    [("zh", "供电服务在线客服", "输入您的问题"), ("en", "customer chat", "Type your question")],
)
async def test_the_chat_page(http: httpx.AsyncClient, lang: str, title: str, placeholder: str) -> None:
    response = await http.get("/chat", params={"lang": lang})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert title in page and placeholder in page and f'data-lang="{lang}"' in page
    assert "/api/v1/chat/sessions" in page and "95598" in page
    assert (await http.get("/chat", params={"lang": "fr"})).status_code == 422
