"""A fault outage end to end, with the real processes: `gridtalk api` (staff API, web chat, Telegram webhook)
on the real Rasa server, `gridtalk worker --once` ticks sending through a fake Bot API server on loopback.

Staff record a fault on one feeder and publish it → the subscribed Telegram customers on that feeder get
"we know" and nobody else does → a web chat customer on the feeder asking 电费多少 hears of the outage first →
the estimate moves by an hour → the update arrives → restored → the restoration message carries "still no
power at my place" → one press opens a ticket linked to the outage → staff move it to "crew assigned" → the
customer is told, asks 报修进度 and gets the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import FaultTicket, Identity, IdentityAccount, UtilityAccount
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.dialogue import demo_account
from tests.support.notices import SHANGHAI, load_demo_world
from tests.support.processes import worker_tick
from tests.support.telegram import WEBHOOK_HEADERS, update

pytestmark = [pytest.mark.e2e, pytest.mark.rasa]
Maker = async_sessionmaker[AsyncSession]


async def telegram_chats_on(sessionmaker: Maker, feeder: str | None, *, other_than: str | None = None) -> set[int]:
    """Chats of the subscribed Telegram customers bound to an account on `feeder` (or on any feeder but
    `other_than`), found in the database independently of the notice planner."""
    async with sessionmaker() as session:
        query = (
            select(Identity.telegram_chat_id)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .where(Identity.subscribed_notices.is_(True), Identity.telegram_chat_id.is_not(None))
        )
        if feeder is not None:
            query = query.where(UtilityAccount.feeder_code == feeder)
        if other_than is not None:
            query = query.where(UtilityAccount.feeder_code != other_than)
        return {int(chat) for chat in await session.scalars(query) if chat is not None}


async def busiest_feeder(sessionmaker: Maker) -> str:
    """A residential feeder with subscribed Telegram customers and an unbound account for the web chat."""
    async with sessionmaker() as session:
        feeders = await session.scalars(
            select(UtilityAccount.feeder_code)
            .join(IdentityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .join(Identity, Identity.id == IdentityAccount.identity_id)
            .where(Identity.subscribed_notices.is_(True), Identity.telegram_chat_id.is_not(None))
            .order_by(UtilityAccount.feeder_code)
        )
        return next(iter(feeders))


async def test_a_fault_outage_from_the_api_to_the_customer_and_back(
    env: dict[str, str], api_process: str, bot_api: FakeTelegramApi, sessionmaker: Maker
) -> None:
    now = datetime.now(UTC)
    await load_demo_world(sessionmaker, now)
    feeder = await busiest_feeder(sessionmaker)
    on_feeder = await telegram_chats_on(sessionmaker, feeder)
    elsewhere = await telegram_chats_on(sessionmaker, None, other_than=feeder) - on_feeder
    assert on_feeder and elsewhere
    web_customer = await demo_account(sessionmaker, feeder=feeder)

    async with httpx.AsyncClient(base_url=api_process, timeout=60) as http:
        token = await http.post("/api/v1/auth/token", data={"username": "admin", "password": "gridtalk-demo"})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}

        async def sent_since(count: int) -> list[Any]:
            return bot_api.sent()[count:]

        # --- the fault, published at once: "we know" to the feeder's customers, nobody else
        body = {
            "kind": "unplanned",
            "feeders": [feeder],
            "starts_at": (now - timedelta(minutes=10)).astimezone(SHANGHAI).isoformat(),
            "estimated_restoration_at": (now + timedelta(hours=2)).astimezone(SHANGHAI).isoformat(),
            "reason": "10kV线路故障",
        }
        created = await http.post("/api/v1/outages?publish=true", json=body, headers=auth)
        assert created.status_code == 201, created.text
        outage_id = created.json()["id"]
        before = len(bot_api.sent())
        await worker_tick(env)
        told = await sent_since(before)
        assert {c.chat_id for c in told} == on_feeder
        assert not {c.chat_id for c in told} & elsewhere
        assert all("我们已经知道" in c.text or "we know" in c.text for c in told)

        # --- a web chat customer on that feeder asks about the bill: the outage comes first
        chat = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]

        async def say(text: str) -> str:
            answer = await http.post(f"/api/v1/chat/sessions/{chat}/messages", json={"text": text})
            assert answer.status_code == 200, answer.text
            return "\n".join(r["text"] for r in answer.json()["replies"])

        await say(f"绑定户号 {web_customer.number}")
        assert "验证通过" in await say(f"手机尾号{web_customer.last4}")
        reply = await say("电费多少")
        assert "正在停电" in reply and "电费" in reply, reply
        assert reply.index("正在停电") < reply.index("电费")  # the outage first, then the bill

        # --- the estimate moves by an hour: the update reaches those told
        later = (now + timedelta(hours=3)).astimezone(SHANGHAI)
        moved = await http.patch(
            f"/api/v1/outages/{outage_id}", json={"estimated_restoration_at": later.isoformat()}, headers=auth
        )
        assert moved.status_code == 200, moved.text
        before = len(bot_api.sent())
        await worker_tick(env)
        updates = await sent_since(before)
        assert {c.chat_id for c in updates} == on_feeder
        assert all(later.strftime("%H:%M") in c.text for c in updates)

        # --- restored: the restoration message with its button; one press opens a ticket tied to the outage
        restored = await http.post(f"/api/v1/outages/{outage_id}/complete", headers=auth)
        assert restored.status_code == 200 and restored.json()["status"] == "completed"
        before = len(bot_api.sent())
        await worker_tick(env)
        restoration = await sent_since(before)
        assert {c.chat_id for c in restoration} == on_feeder
        customer = restoration[0]
        [button] = customer.buttons
        assert button["text"] == "我家仍然没电" and button["callback_data"].startswith("notice:nopower:")
        assert customer.chat_id is not None
        webhook = WEBHOOK_HEADERS
        before = len(bot_api.sent())
        pressed = await http.post(
            "/telegram/webhook", json=update(1, customer.chat_id, data=button["callback_data"]), headers=webhook
        )
        assert pressed.status_code == 200, pressed.text
        [answer] = [c for c in await sent_since(before) if c.chat_id == customer.chat_id]
        async with sessionmaker() as session:
            [ticket] = list(await session.scalars(select(FaultTicket).where(FaultTicket.outage_id == outage_id)))
        assert ticket.reference in answer.text
        tickets = (await http.get("/api/v1/tickets", headers=auth)).json()["items"]
        assert next(t for t in tickets if t["id"] == ticket.id)["outage_id"] == outage_id

        # --- staff send a crew: the customer hears of it, then asks where it stands
        status = await http.post(f"/api/v1/tickets/{ticket.id}/status", json={"status": "assigned"}, headers=auth)
        assert status.status_code == 200, status.text
        before = len(bot_api.sent())
        await worker_tick(env)
        [news] = [c for c in await sent_since(before) if c.chat_id == customer.chat_id]
        assert ticket.reference in news.text and "已派抢修人员" in news.text
        before = len(bot_api.sent())
        asked = await http.post("/telegram/webhook", json=update(2, customer.chat_id, text="报修进度"), headers=webhook)
        assert asked.status_code == 200
        [progress] = [c for c in await sent_since(before) if c.chat_id == customer.chat_id]
        assert ticket.reference in progress.text and "已派抢修人员" in progress.text
