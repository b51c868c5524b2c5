"""The feedback API on the hand-made data set of tests/core/feedback/feedback_world.py: the report's shape and
who sees which figures, the follow-ups per role (an agent their own, an account manager their key accounts',
admins and supervisors all) with the state and overdue filters, closing one (audited; a closed one is a 409,
another's a 404), and the CSV export (admins and supervisors, masked, audited). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from tests.core.feedback.feedback_world import K1, PHONE, RESIDENT, FeedbackWorld, load_feedback_world
from tests.support.staff import api_client, audit_rows, bearer


class Client:
    """The api in process, a bearer token per staff user of the data set."""

    def __init__(self, http: httpx.AsyncClient, world: FeedbackWorld) -> None:
        self.http = http
        self.world = world
        self.tokens: dict[str, dict[str, str]] = {}

    async def as_(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = await bearer(self.http, username)
        return self.tokens[username]

    async def get(self, username: str, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=await self.as_(username))

    async def followups(self, username: str, **params: Any) -> dict[str, Any]:
        response = await self.get(username, "/api/v1/followups", **params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def names(self, page: dict[str, Any]) -> list[str]:
        ids = {v: k for k, v in self.world.followups.items()}
        return [ids[item["id"]] for item in page["items"]]

    async def close(self, username: str, name: str, note: str = "已回访，客户接受解释") -> httpx.Response:
        followup_id = self.world.followups.get(name, 999999)
        return await self.http.post(
            f"/api/v1/followups/{followup_id}/close", json={"note": note}, headers=await self.as_(username)
        )


@pytest.fixture
async def api(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> AsyncIterator[Client]:
    world = await load_feedback_world(sessionmaker)
    async with api_client(settings, clock) as http:
        yield Client(http, world)


# -- the report ---------------------------------------------------------------------------------------------


async def test_the_report_answers_the_contract_shape(api: Client) -> None:
    response = await api.get("super.fb", "/api/v1/feedback/report")
    assert response.status_code == 200, response.text
    report = response.json()
    assert {"responses", "csat", "average", "sent", "response_rate", "from", "to", "weeks", "low_comments"} <= set(
        report
    )
    assert (report["responses"], report["sent"], report["csat"], report["average"]) == (5, 7, 0.4, 3.0)
    assert report["from"] == "2026-10-04T16:00:00Z" and report["to"] == "2026-11-23T09:30:00Z"
    assert {"by_channel", "by_segment", "by_agent", "by_intent", "comments", "low_comments_total"} <= set(report)
    assert report["by_channel"][0] == {
        "key": "web",
        "sent": 4,
        "responses": 3,
        "response_rate": 0.75,
        "csat": 0.3333,
        "average": 3.33,
    }
    assert [w["week"] for w in report["weeks"]][-2:] == ["2026-W47", "2026-W48"]
    assert report["weeks"][-1] == {
        "week": "2026-W48",
        "starts_on": "2026-11-23",
        "sent": 2,
        "responses": 1,
        "response_rate": 0.5,
        "csat": 0.0,
        "average": 2.0,
    }
    low = report["low_comments"][1]
    assert low["comment"] == "停电太久，打138********没人接" and low["score"] == 1
    assert PHONE not in response.text and RESIDENT not in response.text
    assert report["comments"] == {"positive": 2, "neutral": 1, "negative": 2, "unread": 0, "total": 5}


async def test_the_report_takes_a_period_and_refuses_a_backwards_one(api: Client) -> None:
    week = await api.get(
        "admin.fb",
        "/api/v1/feedback/report",
        **{"from": "2026-11-16T00:00:00+08:00", "to": "2026-11-23T00:00:00+08:00"},
    )
    assert week.status_code == 200, week.text
    assert (week.json()["sent"], [w["week"] for w in week.json()["weeks"]]) == (4, ["2026-W47"])
    backwards = await api.get(
        "admin.fb",
        "/api/v1/feedback/report",
        **{"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-16T00:00:00+08:00"},
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["body", "from"]
    naive = await api.get("admin.fb", "/api/v1/feedback/report", **{"from": "2026-11-16T00:00:00"})
    assert naive.status_code == 422  # a time without its offset


async def test_each_role_reads_the_report_of_what_it_may_see(api: Client) -> None:
    sent = {}
    for user in ("admin.fb", "super.fb", "alice", "bob", "wang", "zhao"):
        response = await api.get(user, "/api/v1/feedback/report")
        assert response.status_code == 200, (user, response.text)
        sent[user] = (response.json()["sent"], response.json()["responses"])
    # admins and supervisors all; agents the surveys of their conversations; managers their key accounts'
    assert sent == {
        "admin.fb": (7, 5),
        "super.fb": (7, 5),
        "alice": (4, 3),
        "bob": (2, 1),
        "wang": (1, 1),
        "zhao": (1, 0),
    }
    anonymous = await api.http.get("/api/v1/feedback/report")
    assert anonymous.status_code == 401


# -- follow-ups ---------------------------------------------------------------------------------------------


async def test_followups_answer_the_contract_shape(api: Client) -> None:
    page = await api.followups("super.fb")
    assert page["total"] == 4
    assert api.names(page) == ["fu3", "fu4", "fu1", "fu2"]  # due first
    fu1 = next(item for item in page["items"] if item["id"] == api.world.followups["fu1"])
    assert {"id", "owner", "due_at", "state", "score", "comment"} <= set(fu1)
    assert (fu1["owner"], fu1["state"], fu1["score"], fu1["overdue"]) == ("wang", "open", 1, True)
    assert fu1["comment"] == "停电太久，打138********没人接" and fu1["sentiment"] == "negative"
    assert fu1["due_at"] == "2026-11-19T02:00:00Z"
    fu3 = next(item for item in page["items"] if item["id"] == api.world.followups["fu3"])
    assert (fu3["owner"], fu3["state"], fu3["overdue"], fu3["closed_by"]) == (None, "closed", False, "super.fb")


async def test_followups_per_role_and_filters(api: Client) -> None:
    seen = {user: api.names(await api.followups(user)) for user in ("admin.fb", "alice", "bob", "wang", "zhao")}
    assert seen == {
        "admin.fb": ["fu3", "fu4", "fu1", "fu2"],
        "alice": [],  # she handled s3 and s10, but their follow-ups belong to the key accounts' managers
        "bob": ["fu2"],
        "wang": ["fu1"],
        "zhao": ["fu4"],
    }
    assert api.names(await api.followups("super.fb", state="open")) == ["fu4", "fu1", "fu2"]
    assert api.names(await api.followups("super.fb", state="closed")) == ["fu3"]
    assert api.names(await api.followups("super.fb", overdue="true")) == ["fu4", "fu1"]
    assert api.names(await api.followups("super.fb", overdue="false")) == ["fu3", "fu2"]
    assert api.names(await api.followups("wang", overdue="true")) == ["fu1"]
    assert api.names(await api.followups("bob", overdue="true")) == []
    limited = await api.followups("super.fb", limit=1, offset=1)
    assert (api.names(limited), limited["total"]) == (["fu4"], 4)
    bad = await api.get("super.fb", "/api/v1/followups", state="pending")
    assert bad.status_code == 422


async def test_closing_a_followup_is_audited_and_only_once(api: Client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    closed = await api.close("bob", "fu2", "已回访：账单已重新核对")
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["note"], body["closed_by"], body["overdue"]) == (
        "closed",
        "已回访：账单已重新核对",
        "bob",
        False,
    )
    assert body["closed_at"] == "2026-11-23T09:30:00Z"
    assert api.names(await api.followups("bob", state="closed")) == ["fu2"]
    rows = await audit_rows(sessionmaker, action="followup.close")
    assert [(r.staff_id, r.target_type, r.target_id) for r in rows] == [
        (api.world.staff["bob"], "followup", str(api.world.followups["fu2"]))
    ]
    assert rows[0].detail == {
        "survey_id": api.world.surveys["s5"],
        "owner_id": api.world.staff["bob"],
        "overdue": False,
    }
    again = await api.close("bob", "fu2")
    assert again.status_code == 409
    assert again.json()["detail"][0]["type"] == "conflict"
    assert len(await audit_rows(sessionmaker, action="followup.close")) == 1


async def test_a_followup_not_theirs_is_not_found(api: Client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    assert (await api.close("bob", "fu1")).status_code == 404  # wang's
    assert (await api.close("alice", "fu1")).status_code == 404  # she handled the conversation, not the follow-up
    assert (await api.close("zhao", "fu1")).status_code == 404  # another manager's key account
    assert (await api.close("wang", "missing")).status_code == 404
    assert await audit_rows(sessionmaker, action="followup.close") == []
    overdue = await api.close("wang", "fu1")
    assert overdue.status_code == 200, overdue.text
    assert (await audit_rows(sessionmaker, action="followup.close"))[0].detail["overdue"] is True
    assert (await api.close("super.fb", "fu3")).status_code == 409  # closed in September
    assert (await api.close("admin.fb", "fu4")).status_code == 200  # anyone's, for an admin


async def test_a_closing_note_is_required(api: Client) -> None:
    assert (await api.close("bob", "fu2", "")).status_code == 422
    blank = await api.close("bob", "fu2", "   ")
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "note"]
    assert (await api.close("bob", "fu2", "x" * 2001)).status_code == 422
    assert api.names(await api.followups("bob", state="open")) == ["fu2"]


# -- the CSV export -----------------------------------------------------------------------------------------


async def test_the_csv_export_is_masked_audited_and_for_admins_and_supervisors(api: Client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    response = await api.get(
        "super.fb",
        "/api/v1/feedback/report.csv",
        **{"from": "2026-11-16T00:00:00+08:00", "to": "2026-11-30T00:00:00+08:00"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="feedback-2026-11-16-2026-11-30.csv"'
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["score"]) for r in rows] == [5, 4, 1, 2]  # s1 s2 s3 s5, as answered
    assert PHONE not in text and K1 not in text and RESIDENT not in text
    assert "138********" in text and "33******01" in text and "33******03" in text
    audit = await audit_rows(sessionmaker, action="feedback.export")
    assert [(r.staff_id, r.target_type, r.detail["rows"]) for r in audit] == [
        (api.world.staff["super.fb"], "feedback_report", 4)
    ]
    for user in ("alice", "wang"):
        assert (await api.get(user, "/api/v1/feedback/report.csv")).status_code == 403
    assert (await api.get("admin.fb", "/api/v1/feedback/report.csv")).status_code == 200
    assert len(await audit_rows(sessionmaker, action="feedback.export")) == 2
