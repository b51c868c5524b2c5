"""The staff API of applications (DESIGN.md's contract) on the demo data: create, advance, reopen with a note, link
the planned outage, the list with its filters and one with its history; who may (admins and supervisors all,
account managers their own key accounts', agents none) and the declared 4xx answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.models import Outage
from core.models.enums import OutageKind
from tests.support.applications import DATA_CENTRE, FACTORY, WATERWORKS, application_rows, demo_key_account
from tests.support.dialogue import load_demo_data
from tests.support.staff import api_client, audit_rows

Maker = async_sessionmaker[AsyncSession]
URL = "/api/v1/applications"
LIST_ITEM = {"id", "account_number", "kind", "stage", "due_at", "overdue", "owner"}


class Api:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.headers: dict[str, str] = {}

    async def as_(self, username: str) -> Api:
        token = await self.http.post("/api/v1/auth/token", data={"username": username, "password": "gridtalk-demo"})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        return self

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"{URL}{path}", json=body, headers=self.headers)

    async def patch(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.patch(f"{URL}{path}", json=body, headers=self.headers)

    async def get(self, path: str = "", **params: Any) -> httpx.Response:
        return await self.http.get(f"{URL}{path}", params=params, headers=self.headers)


@pytest.fixture
async def api(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[Api]:
    await load_demo_data(sessionmaker, clock)
    async with api_client(settings, clock) as http:
        yield await Api(http).as_("admin")


async def test_create_advance_reopen_and_read_back(api: Api, sessionmaker: Maker, clock: FrozenClock) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    body = {"account_number": key.number, "kind": "capacity_increase", "description": "新增两台水泵"}
    created = await api.post("", body)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["stage"] == "accepted" and made["due_at"] and made["owner"] == key.manager
    assert datetime.fromisoformat(made["due_at"]) > clock.now() and made["next_stage"] == "site_survey"
    app_id = made["id"]

    moved = await api.post(f"/{app_id}/advance", {"stage": "site_survey", "note": "已约勘查"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "site_survey" and moved.json()["due_at"] != made["due_at"]
    assert (await api.post(f"/{app_id}/advance", {"stage": "supply_plan"})).status_code == 200
    no_note = await api.post(f"/{app_id}/advance", {"stage": "accepted"})
    assert no_note.status_code == 422 and no_note.json()["detail"][0]["loc"] == ["body", "note"]
    assert (await api.post(f"/{app_id}/advance", {"stage": "supply_plan"})).status_code == 409
    reopened = await api.post(f"/{app_id}/advance", {"stage": "site_survey", "note": "负荷有变，重新勘查"})
    assert reopened.status_code == 200 and reopened.json()["stage"] == "site_survey"

    one = (await api.get(f"/{app_id}")).json()
    assert [(e["kind"], e["from_stage"], e["to_stage"]) for e in one["events"]] == [
        ("created", None, "accepted"),
        ("advanced", "accepted", "site_survey"),
        ("advanced", "site_survey", "supply_plan"),
        ("reopened", "supply_plan", "site_survey"),
    ]
    assert one["events"][-1]["note"] == "负荷有变，重新勘查" and one["events"][-1]["staff"] == "admin"
    assert one["route"][0] == "accepted" and one["route"][-1] == "connected"

    listed = (await api.get("", account_number=key.number)).json()
    assert listed["total"] == 1 and set(listed["items"][0]) == LIST_ITEM  # exactly the contract's fields
    assert listed["items"][0]["stage"] == "site_survey" and listed["items"][0]["overdue"] is False

    actions = [r.action for r in await audit_rows(sessionmaker, target_type="application")]
    assert actions == ["application.create", *["application.advance"] * 2, "application.reopen"]
    assert {r.client for r in await audit_rows(sessionmaker, target_type="application")} == {"127.0.0.1"}
    assert len({r.revision for r in await application_rows(sessionmaker, app_id)}) == 4  # each change told


async def test_the_list_filters(api: Api, sessionmaker: Maker) -> None:
    everything = (await api.get()).json()
    assert everything["total"] == 8 and everything["items"][0]["overdue"] is True  # the demo's; most urgent first
    [overdue] = (await api.get("", overdue="true")).json()["items"]
    assert overdue["account_number"] == (await demo_key_account(sessionmaker, DATA_CENTRE)).number
    assert (await api.get("", open="true")).json()["total"] == 7
    assert (await api.get("", kind="ev_charger")).json()["total"] == 2
    assert (await api.get("", stage="connected")).json()["total"] == 1
    page = (await api.get("", limit=3, offset=3)).json()
    assert page["total"] == 8 and [i["id"] for i in page["items"]] == [i["id"] for i in everything["items"][3:6]]
    assert (await api.get("", account_number="12345")).status_code == 422
    assert (await api.get("", stage="done")).status_code == 422


async def test_linking_the_planned_outage_and_handing_it_over(api: Api, sessionmaker: Maker) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    app_id = (await api.post("", {"account_number": key.number, "kind": "new_connection"})).json()["id"]
    async with sessionmaker() as session:
        planned = await session.scalar(select(Outage.id).where(Outage.kind == OutageKind.PLANNED))
        fault = await session.scalar(select(Outage.id).where(Outage.kind == OutageKind.UNPLANNED))
    linked = await api.patch(f"/{app_id}", {"outage_id": planned})
    assert linked.status_code == 200 and linked.json()["outage_id"] == planned
    assert linked.json()["owner"] == key.manager  # left out: kept
    handed = await api.patch(f"/{app_id}", {"owner": "supervisor.zhou"})
    assert handed.json()["owner"] == "supervisor.zhou" and handed.json()["outage_id"] == planned
    assert (await api.patch(f"/{app_id}", {"outage_id": fault})).status_code == 422  # a fault is not planned
    assert (await api.patch(f"/{app_id}", {"owner": "agent.li"})).status_code == 422  # agents do not handle them
    assert (await api.patch(f"/{app_id}", {"outage_id": None})).json()["outage_id"] is None


async def test_refusals_are_declared_answers(api: Api, sessionmaker: Maker) -> None:
    key = await demo_key_account(sessionmaker, WATERWORKS)
    assert (await api.post("", {"account_number": "9999999999", "kind": "ev_charger"})).status_code == 404
    assert (await api.post("", {"account_number": key.number, "kind": "wind_farm"})).status_code == 422
    assert (await api.post("", {"account_number": key.number[:9], "kind": "ev_charger"})).status_code == 422
    long = {"account_number": key.number, "kind": "ev_charger", "description": "x" * 2001}
    assert (await api.post("", long)).status_code == 422
    ev = (await api.post("", {"account_number": key.number, "kind": "ev_charger"})).json()["id"]
    skipped = await api.post(f"/{ev}/advance", {"stage": "design_review"})  # a home charger skips it
    assert skipped.status_code == 422 and skipped.json()["detail"][0]["loc"] == ["body", "stage"]
    assert (await api.post("/999999/advance", {"stage": "site_survey"})).status_code == 404
    assert (await api.get("/999999")).status_code == 404
    assert (await api.get("/0")).status_code == 422
    paths = api.http._transport.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, method, status in [
        (URL, "post", "404"),
        (URL + "/{application_id}/advance", "post", "409"),
        (URL + "/{application_id}", "get", "404"),
        (URL + "/{application_id}", "patch", "422"),
    ]:
        assert status in paths[path][method]["responses"]


async def test_who_may(api: Api, sessionmaker: Maker) -> None:
    mine = await demo_key_account(sessionmaker, WATERWORKS)  # manager.wang's
    theirs = await demo_key_account(sessionmaker, FACTORY)  # manager.chen's
    await api.as_("agent.li")
    assert (await api.get()).status_code == 403
    assert (await api.post("", {"account_number": mine.number, "kind": "ev_charger"})).status_code == 403
    await api.as_("supervisor.zhou")
    assert (await api.post("", {"account_number": theirs.number, "kind": "ev_charger"})).status_code == 201
    await api.as_("manager.wang")
    created = await api.post("", {"account_number": mine.number, "kind": "capacity_decrease"})
    assert created.status_code == 201 and created.json()["owner"] == "manager.wang"
    assert (await api.post("", {"account_number": theirs.number, "kind": "ev_charger"})).status_code == 404
    listed = (await api.get()).json()
    names = {(await demo_key_account(sessionmaker, n)).number for n in (WATERWORKS, "市第一人民医院")}
    assert listed["total"] == 2 and {i["account_number"] for i in listed["items"]} == names
    factory_app = (await (await api.as_("admin")).get("", account_number=theirs.number)).json()["items"][0]["id"]
    await api.as_("manager.wang")
    assert (await api.get(f"/{factory_app}")).status_code == 404
    assert (await api.post(f"/{factory_app}/advance", {"stage": "connected"})).status_code == 404
    assert (await api.patch(f"/{factory_app}", {"outage_id": None})).status_code == 404
    await api.as_("manager.chen")
    assert (await api.post(f"/{factory_app}/advance", {"stage": "connected"})).json()["stage"] == "connected"
