"""The console's escalation queue, conversation view and fault tickets over HTTP (cookie session + CSRF):
what an agent sees and does; the browser test (tests/e2e/browser) drives the same pages in Chromium."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import FaultTicket
from tests.fakes.nlu import FakeNlu
from tests.support.notices import SHANGHAI, load_demo_world

PASSWORD = "gridtalk-demo"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
async def http(sessionmaker, clock: FrozenClock, settings: Settings):  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    await load_demo_world(sessionmaker, clock.now())
    app = create_app(settings, clock=clock, nlu=FakeNlu({"转人工": "human_handoff", "账单不对": "bill_explain"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def sign_in(http: httpx.AsyncClient, username: str) -> str:
    response = await http.post("/console/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    found = CSRF.search((await http.get("/console")).text)
    assert found
    return found.group(1)


async def escalate(http: httpx.AsyncClient) -> str:
    session_id = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]
    for text in ("转人工", "账单不对"):
        await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json={"text": text})
    return str(session_id)


async def test_an_agent_claims_replies_and_resolves_from_the_console(http: httpx.AsyncClient) -> None:
    session_id = await escalate(http)
    csrf = await sign_in(http, "agent.li")
    queue = await http.get("/console/queue")
    assert queue.status_code == 200 and "人工会话队列" in queue.text and "客户要求转人工" in queue.text
    escalation_id = int(re.search(r'href="/console/escalations/(\d+)"', queue.text).group(1))  # type: ignore[union-attr]
    rows = await http.get("/console/queue", params={"rows": "true"}, headers={"HX-Request": "true"})
    assert rows.status_code == 200 and "<html" not in rows.text and f"#{escalation_id}" in rows.text
    seen = re.search(r"seen=([0-9a-f]+)", rows.text).group(1)  # type: ignore[union-attr]
    unchanged = await http.get("/console/queue", params={"rows": "true", "seen": seen})
    assert unchanged.status_code == 204  # nothing new: nothing swapped, nothing re-announced

    page = await http.get(f"/console/escalations/{escalation_id}")
    assert page.status_code == 200 and "账单不对" in page.text and "bill_explain" in page.text
    assert '<label for="reply-text">' in page.text and "常用回复" in page.text

    assert (await http.post(f"/console/escalations/{escalation_id}/claim")).status_code == 403  # no CSRF token
    claimed = await http.post(f"/console/escalations/{escalation_id}/claim", data={"csrf_token": csrf})
    assert claimed.status_code == 303
    sent = await http.post(
        f"/console/escalations/{escalation_id}/reply", data={"csrf_token": csrf, "text": "您好，我来帮您核对账单。"}
    )
    assert sent.status_code == 303
    transcript = await http.get(f"/console/escalations/{escalation_id}", params={"transcript": "true"})
    assert "您好，我来帮您核对账单。" in transcript.text and "李娜" in transcript.text
    last = re.search(r"after=(\d+)", transcript.text).group(1)  # type: ignore[union-attr]
    quiet = await http.get(f"/console/escalations/{escalation_id}", params={"transcript": "true", "after": last})
    assert quiet.status_code == 204
    claimed_rows = await http.get("/console/queue", params={"rows": "true", "seen": seen})
    assert claimed_rows.status_code == 200 and "李娜" in claimed_rows.text  # claimed: the rows changed
    customer = await http.get(f"/api/v1/chat/sessions/{session_id}/messages")
    assert "您好，我来帮您核对账单。" in [m["text"] for m in customer.json()["messages"]]

    done = await http.post(f"/console/escalations/{escalation_id}/resolve", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/console/queue"
    assert "队列中没有会话" in (await http.get("/console/queue")).text


async def test_the_queue_in_english_and_the_pages_each_role_may_see(http: httpx.AsyncClient) -> None:
    await escalate(http)
    await sign_in(http, "agent.li")
    english = await http.get("/console/queue", params={"lang": "en"})
    assert "Escalation queue" in english.text and "asked for a person" in english.text
    assert (await http.get("/console/audit")).status_code == 403  # an agent does not read the audit log
    await sign_in(http, "manager.wang")
    own = await http.get("/console/queue")
    assert own.status_code == 200 and "Nothing in the queue" in own.text  # not one of their key accounts


async def test_fault_tickets_page_changes_a_status(http: httpx.AsyncClient, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(sessionmaker) as session:
        session.add(
            FaultTicket(
                reference="F261130-TEST",
                location="文三路1号",
                description="整栋楼没电",
                hazard=True,
                urgent=True,
                created_at=datetime(2026, 11, 30, 1, tzinfo=SHANGHAI),
            )
        )
    csrf = await sign_in(http, "agent.li")
    page = await http.get("/console/tickets")
    assert page.status_code == 200 and "F261130-TEST" in page.text and "整栋楼没电" in page.text
    async with sessionmaker() as session:
        ticket = await session.scalar(select(FaultTicket).where(FaultTicket.reference == "F261130-TEST"))
        assert ticket is not None  # not one of the demo storm's tickets
    changed = await http.post(
        f"/console/tickets/{ticket.id}/status", data={"csrf_token": csrf, "status": "assigned", "note": "派给抢修一班"}
    )
    assert changed.status_code == 303
    async with sessionmaker() as session:
        assert (await session.get(FaultTicket, ticket.id)).status == "assigned"  # type: ignore[union-attr]
