"""Rasa stops answering in the middle of a conversation: the web chat goes on from keywords and buttons, no turn
waits past GRIDTALK_NLU_TIMEOUT, nothing of the conversation is lost, and the NLU is used again once Rasa is
back.

The api runs in-process (the FastAPI app over httpx's ASGI transport, on the test database) and builds its
real NLU client from the settings, as `gridtalk api` does; the NLU is the session's real Rasa server. "Down"
is Rasa stopped with SIGSTOP: it keeps its port and accepts connections but answers nothing (a hung server,
the case a timeout must cover; a refused connection fails at once). It is continued (SIGCONT) however the
test ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.config import Settings
from core.models import Message
from nlu.client import CircuitBreaker
from tests.support.processes import listening_pid, paused, record_figures

Maker = async_sessionmaker[AsyncSession]
NLU_DOWN = "智能识别服务暂时不可用"  # templates/dialogue/nlu_down.zh.j2
MARGIN = 1.0  # seconds a turn may take beyond the NLU timeout: the database work of the turn on a busy machine

# what the customer writes while Rasa is down, and the intent the keyword rules must find in it
DOWN_TEXTS = (
    ("现在停电了吗", "outage_status"),
    ("充电桩怎么装", "faq_ev_charger"),
    ("峰谷电价是多少", "tariff_query"),
    ("谢谢", "thanks"),
    ("我要转人工", "human_handoff"),
)


@dataclass
class Chat:
    http: httpx.AsyncClient
    session_id: str
    sent: list[str] = field(default_factory=list)  # what the customer sent, as the transcript shows it
    replies: list[str] = field(default_factory=list)  # every reply text, in order
    last: list[str] = field(default_factory=list)  # the last turn's reply texts
    buttons: list[dict[str, str]] = field(default_factory=list)  # the last turn's buttons

    async def turn(self, *, text: str | None = None, payload: str | None = None) -> float:
        """Send one message (text, or a button's payload); the seconds the answer took."""
        body = {"text": text} if text is not None else {"payload": payload}
        started = time.monotonic()
        response = await self.http.post(f"/api/v1/chat/sessions/{self.session_id}/messages", json=body)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        replies = response.json()["replies"]
        assert replies and all(r["text"].strip() for r in replies), replies
        if payload is not None:
            title = next(b["title"] for b in self.buttons if b["payload"] == payload)
            self.sent.append(title)
        else:
            assert text is not None
            self.sent.append(text)
        self.last = [r["text"] for r in replies]
        self.replies.extend(self.last)
        self.buttons = [b for r in replies for b in r["buttons"]]
        return took


async def last_incoming(sessionmaker: Maker) -> Message:
    async with sessionmaker() as session:
        message = await session.scalar(
            select(Message).where(Message.direction == "in").order_by(Message.id.desc()).limit(1)
        )
    assert message is not None
    return message


@pytest.fixture
async def http(settings: Settings, rasa_url: str, sessionmaker: Maker) -> AsyncIterator[httpx.AsyncClient]:
    """The api on the test database with its own NLU client (GRIDTALK_RASA_URL, GRIDTALK_NLU_TIMEOUT)."""
    app = create_app(settings.model_copy(update={"rasa_url": rasa_url}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as client,
    ):
        yield client


async def test_rasa_down_mid_conversation(
    http: httpx.AsyncClient, settings: Settings, rasa_url: str, sessionmaker: Maker
) -> None:
    async with asyncio.timeout(90):
        await conversation_through_an_nlu_outage(http, settings, rasa_url, sessionmaker)


async def conversation_through_an_nlu_outage(
    http: httpx.AsyncClient, settings: Settings, rasa_url: str, sessionmaker: Maker
) -> None:
    created = await http.post("/api/v1/chat/sessions", json={"language": "zh"})
    assert created.status_code == 201, created.text
    chat = Chat(http, created.json()["session_id"])
    timeout = settings.nlu_timeout

    # Rasa up: the NLU understands (the transcript keeps its confidence)
    await chat.turn(text="你好")
    await chat.turn(text="停电了吗？")
    assert (await last_incoming(sessionmaker)).confidence is not None

    rasa_pid = listening_pid(int(httpx.URL(rasa_url).port or 0))
    down_latencies: list[float] = []
    keyword_intents: list[str | None] = []
    pressed: list[str] = []
    with paused(rasa_pid):
        stopped_at = time.monotonic()
        for index, (text, _intent) in enumerate(DOWN_TEXTS):
            down_latencies.append(await chat.turn(text=text))
            message = await last_incoming(sessionmaker)
            assert message.confidence is None, f"{text!r} was not answered from the keyword rules"
            keyword_intents.append(message.intent)
            if index == 0:
                assert NLU_DOWN in chat.last[0], "the first answer says the NLU is down"
            if chat.buttons and not pressed:
                # a button needs no NLU: press the first one offered
                pressed.append(chat.buttons[0]["title"])
                down_latencies.append(await chat.turn(payload=chat.buttons[0]["payload"]))
        down_for = time.monotonic() - stopped_at
        notices = sum(NLU_DOWN in reply for reply in chat.replies)
        assert notices == 1, f"the NLU-down notice was given {notices} times"
    continued_at = time.monotonic()

    assert keyword_intents == [intent for _text, intent in DOWN_TEXTS]
    assert pressed, "no answer while Rasa was down offered a button"
    assert max(down_latencies) <= timeout + MARGIN, down_latencies

    # Rasa back: the breaker lets a call through after its reset time; the customer keeps writing meanwhile
    back_latencies: list[float] = []
    nlu_back_after: float | None = None
    while nlu_back_after is None:
        assert time.monotonic() - continued_at < 40, "the NLU was not used again within 40 s of Rasa's return"
        back_latencies.append(await chat.turn(text="停电了吗"))
        if (await last_incoming(sessionmaker)).confidence is not None:
            nlu_back_after = time.monotonic() - continued_at
        else:
            await asyncio.sleep(0.5)
    assert max(back_latencies) <= timeout + MARGIN, back_latencies

    # nothing lost: every message in and every reply out is in the transcript, in order
    response = await http.get(f"/api/v1/chat/sessions/{chat.session_id}/messages")
    assert response.status_code == 200, response.text
    transcript = response.json()["messages"]
    assert [m["text"] for m in transcript if m["direction"] == "in"] == chat.sent
    assert [m["text"] for m in transcript if m["direction"] == "out"] == chat.replies

    record_figures(
        "faults/test_rasa_down",
        nlu_timeout_s=timeout,
        breaker_reset_s=CircuitBreaker().reset_after,  # what the api's client is built with
        rasa_down_s=round(down_for, 2),
        turns_while_down=len(down_latencies),
        reply_latency_down_max_s=round(max(down_latencies), 3),
        reply_latency_down_s=[round(x, 3) for x in down_latencies],
        turns_until_nlu_back=len(back_latencies),
        nlu_used_again_after_s=round(nlu_back_after, 2),
        messages_in_transcript=len(transcript),
    )
