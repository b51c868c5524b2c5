"""Every conversation flow through the REAL Rasa server (the trained model), in Chinese and in English.

The web chat API runs in-process (httpx ASGITransport) on the demo data; only the NLU is real, so these
tests say whether what customers write is understood well enough for each flow to work end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.models import Escalation, FaultTicket, Identity, Message
from core.templating import kwh, money
from nlu.client import RasaNluClient
from tests.support.dialogue import DemoAccount, bills_of, demo_account, load_demo_data
from tests.support.staff import api_client

pytestmark = [pytest.mark.rasa, pytest.mark.parametrize("language", ["zh", "en"])]
Maker = async_sessionmaker[AsyncSession]

SAY = {
    "zh": {
        "bill_amount": "我家这个月电费多少",
        "bind": "绑定户号 {number}",
        "phone": "手机尾号{last4}",
        "bill_explain": "为什么电费这么高",
        "usage": "上个月用了几度电",
        "tariff": "峰谷电谷时段几点开始",
        "payment": "不想跑营业厅，能自助缴费吗",
        "outage": "现在停电了吗",
        "planned": "下个月有检修停电吗",
        "hazard": "门口电线掉地上了",
        "fault": "总闸一推就跳",
        "handoff": "机器人解决不了，我要转人工",
        "complaint": "报修两小时没人来，我要投诉",
        "weather": "明天下雨吗",
        "subscribe": "停电提前告诉我",
        "unsubscribe": "别再推送了",
        "greet": "你好",
        "thanks": "谢谢",
        "faq": "充电桩怎么装",
    },
    "en": {
        "bill_amount": "how much is my electricity bill this month",
        "bind": "link my account {number}",
        "phone": "the phone number ends with {last4}",
        "bill_explain": "why is my bill so high",
        "usage": "how much electricity did I use last month",
        "tariff": "what are the peak and valley hours",
        "payment": "how can I pay my bill online",
        "outage": "is there a power cut right now",
        "planned": "are there any planned outages next month",
        "hazard": "there's a fallen power line outside my house",
        "fault": "my main breaker keeps tripping",
        "handoff": "I want to talk to a real person",
        "complaint": "I want to make a complaint about your service",
        "weather": "will it rain tomorrow",
        "subscribe": "let me know before a power cut",
        "unsubscribe": "stop sending me outage notifications",
        "greet": "hello",
        "thanks": "thank you",
        "faq": "how do I install an EV charger at home",
    },
}
WORDS = {
    "zh": {"bind_first": "先绑定户号", "refused": "验证没有通过", "bound": "验证通过", "kwh": "度"},
    "en": {"bind_first": "link your account first", "refused": "did not match", "bound": "Verified", "kwh": "kWh"},
}


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


@pytest.fixture
async def http(rasa_url: str, settings: Settings, clock: FrozenClock, demo: None) -> AsyncIterator[httpx.AsyncClient]:
    nlu = RasaNluClient(rasa_url, timeout=30.0, threshold=settings.nlu_confidence_threshold)
    try:
        async with api_client(settings, clock, nlu=nlu) as client:
            yield client
    finally:
        await nlu.aclose()


class WebChat:
    def __init__(self, http: httpx.AsyncClient, session_id: str, language: str) -> None:
        self.http = http
        self.session_id = session_id
        self.say = SAY[language]
        self.words = WORDS[language]
        self.payloads: list[str] = []

    async def send(self, key: str, **fill: str) -> str:
        text = self.say[key].format(**fill) if fill else self.say[key]
        return await self.raw(text=text)

    async def raw(self, **body: str) -> str:
        response = await self.http.post(f"/api/v1/chat/sessions/{self.session_id}/messages", json=body)
        assert response.status_code == 200, response.text
        replies = response.json()["replies"]
        self.payloads = [b["payload"] for r in replies for b in r["buttons"]]
        return "\n".join(r["text"] for r in replies)

    async def bind(self, account: DemoAccount) -> str:
        await self.send("bind", number=account.number)
        return await self.send("phone", last4=account.last4)


async def chat(http: httpx.AsyncClient, language: str) -> WebChat:
    response = await http.post("/api/v1/chat/sessions", json={"language": language})
    return WebChat(http, response.json()["session_id"], language)


async def tickets_of(sessionmaker: Maker, c: WebChat) -> list[FaultTicket]:
    """The chat's own fault tickets (the demo's storm has tickets of its Telegram customers)."""
    async with sessionmaker() as session:
        own = select(FaultTicket).join(Identity, Identity.id == FaultTicket.identity_id)
        return list(await session.scalars(own.where(Identity.external_id == c.session_id)))


async def test_binding_then_the_bill(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    account = await demo_account(sessionmaker, feeder="BJ-F01")
    latest = (await bills_of(sessionmaker, account.id))[0]
    c = await chat(http, language)
    text = await c.send("bill_amount")
    assert c.words["bind_first"] in text and "¥" not in text
    text = await c.send("bind", number=account.number)
    assert account.number in text
    assert c.words["refused"] in await c.send("phone", last4="0000" if account.last4 != "0000" else "1111")
    text = await c.send("phone", last4=account.last4)
    assert c.words["bound"] in text and money(latest.amount) in text
    assert money(latest.amount) in await c.send("bill_amount")
    async with sessionmaker() as session:
        understood = list(await session.scalars(select(Message.intent).where(Message.direction == "in")))
    assert understood[0] == "bill_amount" and understood[1] == "bind_account"


async def test_bill_explained(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    account = await demo_account(sessionmaker, skip=1)
    latest = (await bills_of(sessionmaker, account.id))[0]
    c = await chat(http, language)
    await c.bind(account)
    text = await c.send("bill_explain")
    assert all(money(line.amount) in text for line in latest.lines) and money(latest.amount) in text


async def test_usage_of_last_month(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    account = await demo_account(sessionmaker, skip=2)
    october = next(b for b in await bills_of(sessionmaker, account.id) if b.period == "2026-10")
    c = await chat(http, language)
    await c.bind(account)
    text = await c.send("usage")
    assert f"{kwh(october.kwh)} {c.words['kwh']}" in text and ("2026年10月" in text or "October 2026" in text)


async def test_tariff_and_payment(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)
    await c.bind(await demo_account(sessionmaker, skip=3))
    assert "22:00" in await c.send("tariff") and "0.288" in await c.send("tariff")
    text = await c.send("payment")
    assert "1. " in text and "2. " in text


async def test_outage_now_and_planned(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)
    await c.bind(await demo_account(sessionmaker, feeder="BJ-F01", skip=1))
    text = await c.send("outage")
    assert "2026-11-23 20:00" in text  # the demo fault outage's restoration, local time
    text = await c.send("planned")
    assert "2026" in text and ("12月" in text or "December" in text)


async def test_hazard_report(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)
    await c.bind(await demo_account(sessionmaker, skip=4))
    text = await c.send("hazard")
    [ticket] = await tickets_of(sessionmaker, c)
    assert ticket.urgent and ticket.reference in text
    assert text.index("8") < text.index(ticket.reference)  # the safety instruction (8 m / 8 metres) first


async def test_fault_form(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)
    await c.send("fault")
    assert c.payloads == ["cancel"]  # not bound: where is it?
    await c.raw(text="文三路158号文华苑5幢")
    assert c.payloads[:2] == ["fault:hazard:yes", "fault:hazard:no"]
    await c.raw(payload="fault:hazard:no")
    [ticket] = await tickets_of(sessionmaker, c)
    assert not ticket.urgent and ticket.description == c.say["fault"]


async def test_handoff_and_complaint(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)
    await c.send("handoff")
    other = await chat(http, language)
    await other.send("complaint")
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(Escalation).order_by(Escalation.id)))
    assert [(e.reason, e.priority) for e in rows] == [("human_handoff", "normal"), ("complaint", "high")]


async def test_out_of_scope_is_declined_every_time_without_taking_a_persons_time(
    http: httpx.AsyncClient, sessionmaker: Maker, language: str
) -> None:
    """Out of scope is understood (and declined); only messages not understood in a row are escalated
    (tests/core/dialogue/test_conversations.py::test_two_fallbacks_in_a_row_escalate)."""
    c = await chat(http, language)
    for _ in range(3):
        text = await c.send("weather")
        assert "intent:bill_amount" in c.payloads and ("帮不上忙" in text or "cannot help" in text)
    async with sessionmaker() as session:
        assert list(await session.scalars(select(Escalation))) == []


async def test_subscriptions_small_talk_and_faq(http: httpx.AsyncClient, sessionmaker: Maker, language: str) -> None:
    c = await chat(http, language)

    async def subscribed() -> bool:
        async with sessionmaker() as session:
            identity = await session.scalar(select(Identity).where(Identity.external_id == c.session_id))
            assert identity is not None
            return identity.subscribed_notices

    text = await c.send("subscribe")  # the web chat, no SMTP server: told which channel would reach them
    assert "Telegram" in text and not await subscribed()
    await c.send("unsubscribe")
    assert not await subscribed()
    await c.send("greet")
    assert "intent:bill_amount" in c.payloads
    assert ("不客气" if language == "zh" else "You are welcome") in await c.send("thanks")
    assert ("充电桩" if language == "zh" else "EV charger") in await c.send("faq")
