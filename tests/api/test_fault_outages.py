"""The staff API for fault outages (DESIGN.md's contract): `"kind": "unplanned"` with an estimated restoration,
published at once or later, the estimate moved by PATCH (its history read back), restored on some feeders or
all, fault tickets linked; and who may do which, as the permission matrix says (an agent drafts a fault and
moves its estimate, a supervisor publishes and restores it, an account manager only reads)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.clock import FrozenClock
from core.db import session_scope
from core.faults.service import FaultReport, FaultService
from core.models import FaultTicket, Identity
from tests.support.notices import SHANGHAI
from tests.support.outage_api import Staff

FEEDERS = ["BJ-F01", "BJ-F02"]


def fault_body(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "unplanned",
        "feeders": FEEDERS,
        "starts_at": (clock.now() - timedelta(minutes=15)).astimezone(SHANGHAI).isoformat(),
        "estimated_restoration_at": (clock.now() + timedelta(hours=2)).astimezone(SHANGHAI).isoformat(),
        "reason": "电缆被挖断，正在抢修",
    }
    body.update(overrides)
    return body


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_an_agent_drafts_and_moves_the_estimate_a_supervisor_publishes_and_restores(
    staff: Staff, clock: FrozenClock
) -> None:
    await staff.sign_in("manager.wang")
    assert (await staff.post("", fault_body(clock))).status_code == 403  # an account manager only reads

    await staff.sign_in("agent.li")
    assert (await staff.post("?publish=true", fault_body(clock))).status_code == 403  # an agent may not publish
    created = await staff.post("", fault_body(clock))
    assert created.status_code == 201, created.text
    outage = created.json()
    assert (outage["kind"], outage["status"], outage["stages"]) == ("unplanned", "draft", [])
    assert at(outage["estimated_restoration_at"]) == clock.now() + timedelta(hours=2)
    outage_id = outage["id"]
    assert (await staff.post(f"/{outage_id}/publish")).status_code == 403
    planned_start = (clock.now() + timedelta(days=3)).isoformat()
    planned = {"kind": "planned", "areas": ["XH"], "starts_at": planned_start, "ends_at": planned_start}
    assert (await staff.post("", {**planned, "reason": "检修"})).status_code == 403  # planned: not an agent's

    await staff.sign_in("supervisor.zhou")
    published = (await staff.post(f"/{outage_id}/publish")).json()
    assert published["status"] == "published"
    assert {(s["stage"], s["audience"]) for s in published["stages"]} == {
        ("initial", "key_account"),
        ("initial", "residential"),
    }
    told = await staff.deliveries(outage_id)
    assert told["total"] > 0 and {i["stage"] for i in told["items"]} == {"initial"}

    await staff.sign_in("agent.li")
    later = (clock.now() + timedelta(hours=3, minutes=30)).astimezone(SHANGHAI).isoformat()
    moved = await staff.patch(f"/{outage_id}", {"estimated_restoration_at": later})
    assert moved.status_code == 200, moved.text
    assert at(moved.json()["estimated_restoration_at"]) == at(later)
    history = (await staff.get(f"/{outage_id}/estimates")).json()
    assert [(at(e["estimated_restoration_at"]), e["changed_by"]) for e in history["items"]] == [
        (clock.now() + timedelta(hours=2), "agent.li"),
        (at(later), "agent.li"),
    ]
    assert (await staff.post(f"/{outage_id}/complete", {"feeders": ["BJ-F01"]})).status_code == 403

    await staff.sign_in("supervisor.zhou")
    part = await staff.post(f"/{outage_id}/complete", {"feeders": ["BJ-F01"]})
    assert part.status_code == 200, part.text
    assert (part.json()["status"], part.json()["feeders"]) == ("published", ["BJ-F02"])
    done = (await staff.post(f"/{outage_id}/complete")).json()
    assert done["status"] == "completed" and at(done["ends_at"]) == clock.now()
    stages = {i["stage"] for i in (await staff.deliveries(outage_id))["items"]}
    assert "restored" in stages


async def test_a_fault_is_refused_with_the_field_named(staff: Staff, clock: FrozenClock) -> None:
    for override, field in (
        ({"estimated_restoration_at": None}, "estimated_restoration_at"),
        ({"starts_at": (clock.now() + timedelta(hours=1)).isoformat()}, "starts_at"),
        ({"estimated_restoration_at": (clock.now() - timedelta(minutes=1)).isoformat()}, "estimated_restoration_at"),
        ({"feeders": ["NOPE"]}, "feeders"),
    ):
        response = await staff.post("", fault_body(clock, **override))
        assert response.status_code == 422, (override, response.text)
        assert response.json()["detail"][0]["loc"][-1] == field
    outage_id = (await staff.post("?publish=true", fault_body(clock))).json()["id"]
    ends = await staff.patch(f"/{outage_id}", {"ends_at": (clock.now() + timedelta(hours=5)).isoformat()})
    assert ends.status_code == 422 and ends.json()["detail"][0]["loc"][-1] == "ends_at"
    restore = await staff.post(f"/{outage_id}/complete", {"feeders": ["XH-F01"]})
    assert restore.status_code == 422 and restore.json()["detail"][0]["loc"][-1] == "feeders"


async def test_fault_tickets_are_linked_to_the_outage(staff: Staff, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    outage_id = (await staff.post("?publish=true", fault_body(clock))).json()["id"]
    async with session_scope(sessionmaker) as session:
        identity = await session.scalar(select(Identity).order_by(Identity.id).limit(1))
        assert identity is not None
        report = FaultReport(location="北京路12号", description="整栋楼没电", hazard=False)
        ticket = await FaultService(clock, SHANGHAI).open_ticket(session, identity, report)
        ticket_id = ticket.id
    linked = await staff.post(f"/{outage_id}/tickets", {"ticket_ids": [ticket_id, ticket_id]})
    assert linked.status_code == 200 and linked.json() == {"ticket_ids": [ticket_id]}
    tickets = (await staff.http.get("/api/v1/tickets", headers=staff.headers)).json()["items"]
    assert next(t for t in tickets if t["id"] == ticket_id)["outage_id"] == outage_id
    missing = await staff.post(f"/{outage_id}/tickets", {"ticket_ids": [999999]})
    assert missing.status_code == 422
    async with sessionmaker() as session:
        stored = await session.get(FaultTicket, ticket_id)
        assert stored is not None and stored.outage_id == outage_id
