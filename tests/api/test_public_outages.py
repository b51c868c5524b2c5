"""The public outage data (no sign-in): JSON and Atom, outages going on now and planned ones to come, never an
outage of named accounts only."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.models import KeyAccountProfile, UtilityAccount
from tests.support.dialogue import load_demo_data
from tests.support.staff import api_client, bearer

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_current_and_planned_outages_without_signing_in_in_json_and_atom(
    settings: Settings, clock: FrozenClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await load_demo_data(sessionmaker, clock)
    async with sessionmaker() as session:  # a key account: its contacts are told of its own line's outage
        number = await session.scalar(
            select(UtilityAccount.account_number)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .limit(1)
        )
    async with api_client(settings, clock) as http:
        # a published outage of one named account only: that customer's business, nobody else's
        headers = await bearer(http, "admin", "gridtalk-demo")
        starts = clock.now() + timedelta(days=20)
        private = await http.post(
            "/api/v1/outages?publish=true",
            headers=headers,
            json={
                "accounts": [number],
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "reason": "meter replacement",
                "contact": "95598",
            },
        )
        assert private.status_code == 201, private.text

        found = await http.get("/api/v1/public/outages")
        assert found.status_code == 200 and found.headers["cache-control"].startswith("public")
        body = found.json()
        items = body["items"]
        assert body["total"] == len(items) > 0
        assert private.json()["id"] not in {i["id"] for i in items}
        ongoing = [i for i in items if i["status"] == "ongoing"]
        upcoming = [i for i in items if i["status"] == "upcoming"]
        assert ongoing and upcoming and items == ongoing + upcoming  # now first, then what is to come
        fault = next(i for i in ongoing if i["kind"] == "unplanned")
        assert fault["estimated_restoration_at"] and fault["ends_at"] is None
        assert all(i["kind"] == "planned" and i["ends_at"] for i in upcoming)
        assert all(i["areas"] and i["feeders"] for i in items)
        assert any("区" in a["name"] for i in items for a in i["areas"])

        english = (await http.get("/api/v1/public/outages", params={"lang": "en"})).json()["items"]
        assert [i["id"] for i in english] == [i["id"] for i in items]
        assert any("District" in a["name"] for i in english for a in i["areas"])

        feed = await http.get("/api/v1/public/outages.atom", params={"lang": "en"})
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
        root = ET.fromstring(feed.text)
        entries = root.findall(f"{ATOM}entry")
        assert len(entries) == len(items)
        titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
        assert titles[0].startswith("Power cut now") and any(t.startswith("Planned outage") for t in titles)

        assert (await http.get("/api/v1/public/outages", params={"lang": "fr"})).status_code == 422


async def test_no_outage_no_items(
    settings: Settings, clock: FrozenClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with api_client(settings, clock) as http:
        assert (await http.get("/api/v1/public/outages")).json() == {"items": [], "total": 0}
        root = ET.fromstring((await http.get("/api/v1/public/outages.atom")).text)
        assert root.findall(f"{ATOM}entry") == [] and root.findtext(f"{ATOM}title") == "停电信息"
