"""Planned-outage notices end to end, with the real processes: `gridtalk api` serves the staff API, and
`gridtalk worker --once --at <time>` runs one tick at a moved clock, sending through a fake Bot API server
and a real SMTP server on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

import httpx
import pytest

from core.clock import FrozenClock
from core.db import session_scope
from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import (
    SHANGHAI,
    TOKEN,
    WANG_CHAT,
    XH_CONTACT_CHATS,
    SmtpServer,
    fake_channels,
    load_demo_world,
)
from tests.support.processes import api_process as start_api
from tests.support.processes import worker_tick
from tests.support.services import confirmations

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    async with fake_channels() as pair:
        yield pair


@pytest.fixture
def env(database_url: str, fakes: tuple[FakeTelegramApi, SmtpServer]) -> dict[str, str]:
    api, smtp = fakes
    values = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    values.update(
        GRIDTALK_ENV="test",
        GRIDTALK_DATABASE_URL=database_url,
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_RASA_URL="http://127.0.0.1:9",  # not needed for the staff API
        GRIDTALK_TELEGRAM_TOKEN=TOKEN,
        GRIDTALK_TELEGRAM_API_BASE=api.base_url,
        GRIDTALK_SMTP_HOST="127.0.0.1",
        GRIDTALK_SMTP_PORT=str(smtp.port),
        GRIDTALK_SMTP_SECURITY="none",
        GRIDTALK_NOTICE_RATE_LIMIT="100",
        GRIDTALK_NOTICE_ALLOW_PAID_BROADCAST="true",
        PYTHONUNBUFFERED="1",
    )
    return values


@pytest.fixture
def api_process(env: dict[str, str], sessionmaker) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with start_api(env) as base:
        yield base


async def test_planned_outage_notices_end_to_end(
    env: dict[str, str], api_process: str, fakes: tuple[FakeTelegramApi, SmtpServer], sessionmaker
) -> None:  # type: ignore[no-untyped-def]
    bot_api, smtp = fakes
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    await load_demo_world(sessionmaker, now)
    async with httpx.AsyncClient(base_url=api_process, timeout=30) as http:
        token = await http.post("/api/v1/auth/token", data={"username": "admin", "password": "gridtalk-demo"})
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        local_day = now.astimezone(SHANGHAI).date() + timedelta(days=17)  # stages at 10:00, out of quiet hours
        start = datetime.combine(local_day, dt_time(10, 0), tzinfo=SHANGHAI)
        created = await http.post(
            "/api/v1/outages",
            headers=auth,
            json={
                "kind": "planned",
                "areas": ["XH"],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=6)).isoformat(),
                "reason": "10kV线路检修",
                "contact": "95598",
            },
        )
        assert created.status_code == 201, created.text
        outage_id = created.json()["id"]
        published = await http.post(f"/api/v1/outages/{outage_id}/publish", headers=auth)
        assert published.status_code == 200, published.text
        plan = {(s["stage"], s["audience"]): s for s in published.json()["stages"]}

        async def deliveries(**params: str) -> dict:  # type: ignore[type-arg]
            response = await http.get(
                f"/api/v1/outages/{outage_id}/deliveries", headers=auth, params={"limit": "1000", **params}
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        everything = await deliveries()
        assert {i["stage"] for i in everything["items"]} == {"15d", "7d", "30m"}
        assert everything["items"][0]["segment"] == "key_account"

        for stage, title in (("15d", "计划停电通知"), ("7d", "计划停电提醒"), ("30m", "停电最后确认")):
            due = datetime.fromisoformat(plan[(stage, "key_account")]["due_at"])
            before = len(bot_api.sent())
            await worker_tick(env, datetime.fromisoformat(plan[(stage, "key_account")]["send_from"]))
            page = await deliveries(stage=stage)
            assert page["counts"] == {"sent": page["total"]}
            assert all(datetime.fromisoformat(i["sent_at"]) <= due for i in page["items"])
            calls = bot_api.sent()[before:]
            assert {c.chat_id for c in calls[: len(XH_CONTACT_CHATS)]} == XH_CONTACT_CHATS  # key accounts first
            assert any(title in c.text for c in calls)
            assert len([m for m in smtp.messages if title in str(m["Subject"])]) == 2  # the two contacts

        final = (await deliveries(stage="30m", segment="key_account"))["items"]
        resident = next(i for i in (await deliveries(stage="30m"))["items"] if i["segment"] == "residential")
        sent_at = datetime.fromisoformat(final[0]["sent_at"])
        clock = FrozenClock(sent_at + timedelta(minutes=2))
        async with session_scope(sessionmaker) as session:  # the resident presses Confirm (the bot calls this)
            from core.models import NoticeDelivery

            row = await session.get(NoticeDelivery, resident["id"])
            assert row is not None
            await confirmations(clock).acknowledge(session, row.id, identity_id=row.identity_id)
        acked = next(i for i in (await deliveries(stage="30m"))["items"] if i["id"] == resident["id"])
        assert acked["status"] == "acked" and datetime.fromisoformat(acked["acked_at"]) == clock.now()

        await worker_tick(env, sent_at + timedelta(minutes=11))  # the key account did not answer
        manager_calls = [c for c in bot_api.sent() if c.chat_id == WANG_CHAT]
        assert len(manager_calls) == 1 and "城西自来水厂" in manager_calls[0].text
        assert smtp.to("manager.wang@example.com")
        final = (await deliveries(stage="30m", segment="key_account"))["items"]
        assert {i["unconfirmed"] for i in final} == {True}
