"""Hostile text is stored and shown literally: customer chat text (web chat API) and staff-entered outage text
(staff API) come back byte for byte from the API (only the whitespace around it trimmed, as the API documents),
escaped in the console's HTML pages, and as written in the notices — never run as markup, SQL or a template.
Over-long text and NUL are refused with a clear 422, and nothing of them is stored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.dialogue.service import MAX_TEXT
from core.models import Message
from core.notices.render import plain_text
from core.outages.service import MAX_REASON
from tests.fakes.nlu import FakeNlu
from tests.support.notices import SHANGHAI, load_demo_world, notice_settings

PASSWORD = "gridtalk-demo"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')

HOSTILE = {
    "zero_width": "停\u200b电\u200c了\u200d吗\u2060？\ufeff",
    "right_to_left": "bill \u202egnp.exe\u202c \u2067مرحبا\u2069 \u200fright\u200e left",
    "emoji": "⚡️👩🏽‍🔧🇨🇳 🔌💡 e\u0301 Z̷̢͎a̸͇l̵g̶o",
    "html": "<script>alert('x')</script><img src=x onerror=alert(1)> <b>bold</b> &amp; &lt; \"quoted\"",
    "jinja": "{{ 7*7 }} {% if true %}yes{% endif %} {# note #} ${7*7} #{7*7} {{ config }}",
    "sql": "'; DROP TABLE messages; -- \" OR 1=1 -- \\x27 %s %(name)s",
    "whitespace": "  line one\nline two\r\n\ttabbed  ",
}
MIXED = " | ".join(HOSTILE.values())
LONGEST = (MIXED * (MAX_TEXT // len(MIXED) + 1))[:MAX_TEXT]  # exactly the longest message there may be


@pytest.fixture
async def http(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    await load_demo_world(sessionmaker, clock.now())
    app = create_app(notice_settings(database_url), clock=clock, nlu=FakeNlu({"转人工": "human_handoff"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as client,
    ):
        yield client


async def console_sign_in(http: httpx.AsyncClient, username: str) -> None:
    response = await http.post("/console/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text


async def bearer(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def rejected(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 422 in the API's one error shape that names the field."""
    assert response.status_code == 422, response.text
    item: dict[str, Any] = response.json()["detail"][0]
    assert item["loc"][:2] == ["body", field] and item["msg"] and item["type"], item
    return item


async def test_chat_text_is_stored_returned_and_shown_literally(
    http: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session_id = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]
    path = f"/api/v1/chat/sessions/{session_id}/messages"
    assert (await http.post(path, json={"text": "转人工"})).status_code == 200  # to the staff's queue
    sent = [*HOSTILE.values(), LONGEST]
    for text in sent:
        response = await http.post(path, json={"text": text})
        assert response.status_code == 200, response.text

    too_long = rejected(await http.post(path, json={"text": "长" * 10_000}), "text")
    assert str(MAX_TEXT) in too_long["msg"]  # says what the limit is
    rejected(await http.post(path, json={"text": "before\x00after"}), "text")  # PostgreSQL cannot store a NUL
    async with sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
    assert stored == 1 + len(sent)  # the refused ones left nothing behind

    messages = (await http.get(path)).json()["messages"]
    received = [m["text"] for m in messages if m["direction"] == "in"][1:]
    assert [t.encode() for t in received] == [t.strip().encode() for t in sent]  # byte for byte, trimmed

    await console_sign_in(http, "supervisor.zhou")
    queue = (await http.get("/console/queue")).text
    found = re.search(r'href="/console/escalations/(\d+)"', queue)
    assert found, queue
    page = await http.get(f"/console/escalations/{found.group(1)}")
    assert page.status_code == 200
    assert_shown_escaped(page.text, [t.strip() for t in HOSTILE.values()])
    assert str(escape(LONGEST.strip())) in page.text


async def test_outage_text_is_stored_returned_shown_and_noticed_literally(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    staff = await bearer(http, "supervisor.zhou")
    start = (clock.now() + timedelta(days=10)).astimezone(SHANGHAI)
    body: dict[str, Any] = {
        "areas": ["XH"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=4)).isoformat(),
        "reason": MIXED,
        "contact": "95598 <b>{{ 7*7 }}</b> '; --",
    }
    refused = rejected(
        await http.post("/api/v1/outages", json={**body, "reason": "检" * (MAX_REASON + 1)}, headers=staff), "reason"
    )
    assert str(MAX_REASON) in refused["msg"]
    rejected(await http.post("/api/v1/outages", json={**body, "reason": "检修\x00"}, headers=staff), "reason")

    created = await http.post("/api/v1/outages", json=body, headers=staff)
    assert created.status_code == 201, created.text
    outage_id = created.json()["id"]
    shown = (await http.get(f"/api/v1/outages/{outage_id}", headers=staff)).json()
    assert shown["reason"].encode() == MIXED.strip().encode()
    assert shown["contact"].encode() == body["contact"].encode()
    longest = (MIXED * (MAX_REASON // len(MIXED) + 1))[:MAX_REASON]
    changed = await http.patch(f"/api/v1/outages/{outage_id}", json={"reason": longest}, headers=staff)
    assert changed.status_code == 200, changed.text
    assert (await http.get(f"/api/v1/outages/{outage_id}", headers=staff)).json()["reason"] == longest.strip()
    assert (await http.patch(f"/api/v1/outages/{outage_id}", json={"reason": MIXED}, headers=staff)).status_code == 200

    previews = await http.get(f"/api/v1/outages/{outage_id}/preview", headers=staff)
    assert previews.status_code == 200, previews.text
    items = previews.json()["items"]
    assert items
    for item in items:  # Telegram HTML: the text escaped, no tag of the customer's; read back: as written
        assert "<script>" not in item["text"] and "<img" not in item["text"] and "<b>bold" not in item["text"]
        assert MIXED.strip() in plain_text(item["text"]), item["text"]  # "{{ 7*7 }}" included: not 49

    await console_sign_in(http, "supervisor.zhou")
    page = await http.get("/console/outages")
    assert page.status_code == 200
    assert_shown_escaped(page.text, [MIXED.strip()])


def assert_shown_escaped(page: str, texts: Any) -> None:
    """Each text is in the page in its HTML-escaped form; none of its markup made it into the page as markup,
    and no template expression in it was evaluated."""
    for text in texts:
        assert str(escape(text)) in page, text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "{{ 7*7 }}" in page  # literally: not evaluated to 49
