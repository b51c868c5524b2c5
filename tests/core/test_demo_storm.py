"""The demo's storm (`make run` on the demo data): two fault outages under repair now, each with an estimate and
its history, one restored an hour ago, fault tickets at every status (some part of the faults) and the "no
power here" reports counted on a fault. Built by core.demo in memory, loaded into the test database (SQLite,
or PostgreSQL in that run), read back through the public outage API and the chat."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker, session_scope
from core.db.migrate import upgrade_async
from core.demo import build_dataset, database_is_empty, load_demo
from core.dialogue import MemoryStateBackend, build_conversations
from core.errors import Conflict
from core.faults.service import REFERENCE_ALPHABET
from core.models import (
    FaultTicket,
    Identity,
    IdentityAccount,
    Outage,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    StaffUser,
    UtilityAccount,
)
from tests.conftest import empty_tables
from tests.support.dialogue import PHRASES, Chat, demo_nlu
from tests.support.staff import api_client

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # the `clock` fixture's now: 17:30 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUSES = {"received", "assigned", "on_site", "fixed", "closed"}
REFERENCE = re.compile(rf"F(\d{{6}})-[{REFERENCE_ALPHABET}]{{4}}")
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def demo(engine: AsyncEngine) -> AsyncIterator[Maker]:
    """The demo loaded as `gridtalk demo load` does on an empty database (no --force), on this run's backend,
    shared by the read-only tests of this module; emptied afterwards."""
    await empty_tables(engine)
    sessions = make_sessionmaker(engine)
    async with session_scope(sessions) as session:
        assert await database_is_empty(session)
        await load_demo(session, NOW)
    yield sessions
    await empty_tables(engine)


async def faults(sessions: Maker) -> list[tuple[Outage, str]]:
    """Every fault outage, in the order loaded, with its feeder."""
    async with sessions() as session:
        rows = await session.execute(
            select(Outage, OutageFeeder.feeder_code)
            .join(OutageFeeder, OutageFeeder.outage_id == Outage.id)
            .where(Outage.kind == "unplanned")
            .order_by(Outage.id)
        )
        return [(outage, feeder) for outage, feeder in rows]


async def snapshot(sessions: Maker) -> dict[str, Any]:
    """The storm's rows with their links by natural keys (references, account numbers, feeders), not ids."""
    async with sessions() as session:
        feeders = dict((await session.execute(select(OutageFeeder.outage_id, OutageFeeder.feeder_code))).all())
        numbers = dict((await session.execute(select(UtilityAccount.id, UtilityAccount.account_number))).all())
        staff = dict((await session.execute(select(StaffUser.id, StaffUser.username))).all())
        chats = dict((await session.execute(select(Identity.id, Identity.external_id))).all())
        outages = [
            (feeders.get(o.id), o.kind, o.status, o.starts_at, o.ends_at, o.estimated_restoration_at, o.completed_at)
            for o in await session.scalars(select(Outage).order_by(Outage.starts_at))
        ]
        estimates = [
            (feeders[e.outage_id], e.estimated_restoration_at, e.changed_at, staff[e.changed_by_id or 0])
            for e in await session.scalars(select(OutageEstimate).order_by(OutageEstimate.changed_at))
        ]
        tickets = {
            t.reference: (
                numbers[t.account_id or 0],
                chats[t.identity_id or 0],
                t.status,
                t.hazard,
                t.urgent,
                t.location,
                t.description,
                t.outage_id and feeders[t.outage_id],
                t.created_at,
                t.updated_at,
            )
            for t in await session.scalars(select(FaultTicket))
        }
        references = dict((await session.execute(select(FaultTicket.id, FaultTicket.reference))).all())
        reports = sorted(
            (
                feeders[r.outage_id or 0],
                r.feeder_code,
                numbers[r.account_id or 0],
                chats[r.identity_id or 0],
                references.get(r.ticket_id or 0),
                r.created_at,
            )
            for r in await session.scalars(select(OutageReport))
        )
    return {"outages": outages, "estimates": estimates, "tickets": tickets, "reports": reports}


# ------------------------------------------------------------------------------------------- pure


def test_the_storm_is_deterministic_and_its_customers_are_the_demos_own() -> None:
    first, second = build_dataset(NOW), build_dataset(NOW)
    assert (first.outages, first.tickets, first.reports) == (second.outages, second.tickets, second.reports)
    later = build_dataset(NOW + timedelta(hours=5))
    assert [t.reference[-4:] for t in later.tickets] == [t.reference[-4:] for t in first.tickets]
    assert [t.account_number for t in later.tickets] == [t.account_number for t in first.tickets]

    bound = {a.account_number: a for a in first.residential if a.identity is not None}
    assert {t.account_number for t in first.tickets} | {r.account_number for r in first.reports} <= set(bound)
    assert len({t.account_number for t in first.tickets}) == len(first.tickets)  # one customer, one ticket
    for ticket in first.tickets:
        assert ticket.location == bound[ticket.account_number].address
        assert (ticket.description.isascii()) == (bound[ticket.account_number].language == "en")


# --------------------------------------------------------------------------------------------- db


@pytest.mark.db
async def test_two_faults_now_with_their_estimates_and_one_restored_an_hour_ago(demo: Maker) -> None:
    (bj, bj_feeder), (sc, sc_feeder), (yh, yh_feeder) = await faults(demo)
    assert (bj_feeder, sc_feeder, yh_feeder) == ("BJ-F01", "SC-F02", "YH-F02")  # three districts
    async with demo() as session:
        admin = await session.scalar(select(StaffUser.id).where(StaffUser.username == "admin"))
        history = {
            o.id: list(
                await session.scalars(
                    select(OutageEstimate).where(OutageEstimate.outage_id == o.id).order_by(OutageEstimate.changed_at)
                )
            )
            for o in (bj, sc, yh)
        }

    for fault in (bj, sc):  # under repair: the end is the current estimate, in the coming hours
        assert fault.status == "published" and fault.completed_at is None
        assert fault.starts_at < fault.published_at <= NOW  # type: ignore[operator]
        assert fault.estimated_restoration_at is not None and fault.ends_at == fault.estimated_restoration_at
        assert NOW < fault.estimated_restoration_at <= NOW + timedelta(hours=3)
        first, moved = history[fault.id]
        assert first.changed_at == fault.published_at and first.changed_at < moved.changed_at <= NOW
        assert first.estimated_restoration_at < moved.estimated_restoration_at == fault.estimated_restoration_at
        assert first.changed_by_id == moved.changed_by_id == admin
        assert fault.updated_at == moved.changed_at  # the estimate moved: the outage changed then
    assert bj.starts_at == NOW - timedelta(hours=1) and sc.starts_at > bj.starts_at

    assert yh.status == "completed" and yh.completed_at == NOW - timedelta(hours=1)
    assert yh.ends_at == yh.completed_at and yh.completed_at - yh.starts_at == timedelta(hours=2)
    assert NOW - yh.starts_at == timedelta(hours=3)
    [estimate] = history[yh.id]
    assert estimate.changed_at == yh.published_at and estimate.changed_by_id == admin


@pytest.mark.db
async def test_fault_tickets_at_every_status_some_part_of_the_faults(demo: Maker) -> None:
    (bj, _), (sc, _), (yh, _) = await faults(demo)
    async with demo() as session:
        tickets = list(await session.scalars(select(FaultTicket).order_by(FaultTicket.created_at)))
        accounts = {a.id: a for a in await session.scalars(select(UtilityAccount))}
        bindings = set((await session.execute(select(IdentityAccount.identity_id, IdentityAccount.account_id))).all())
        subscribed = set(await session.scalars(select(Identity.id).where(Identity.subscribed_notices.is_(True))))

    statuses = Counter(t.status for t in tickets)
    assert set(statuses) == STATUSES and statuses["received"] >= 2
    linked = Counter(t.outage_id for t in tickets)
    assert linked[sc.id] >= 3 and linked[yh.id] >= 2 and linked[None] >= 1
    assert bj.id not in linked  # BJ-F01's fault is left as it was, for the tests that file reports on it
    assert {t.status for t in tickets if t.outage_id == sc.id} >= {"received", "assigned", "on_site"}
    assert {t.status for t in tickets if t.outage_id == yh.id} == {"fixed", "closed"}  # power is back there
    assert any(t.hazard and t.urgent for t in tickets) and all(t.hazard == t.urgent for t in tickets)

    for ticket in tickets:
        match = REFERENCE.fullmatch(ticket.reference)
        assert match, ticket.reference
        assert match.group(1) == ticket.created_at.astimezone(SHANGHAI).strftime("%y%m%d")
        assert NOW - timedelta(hours=3) < ticket.created_at < NOW
        if ticket.status == "received":
            assert ticket.updated_at is None  # as filed, nobody moved it yet
        else:
            assert ticket.updated_at is not None and ticket.created_at < ticket.updated_at <= NOW
        assert ticket.account_id is not None and ticket.identity_id is not None
        assert (ticket.identity_id, ticket.account_id) in bindings and ticket.identity_id in subscribed
        account = accounts[ticket.account_id]
        assert ticket.location == account.address
        if ticket.outage_id == sc.id:
            assert account.feeder_code == "SC-F02" and ticket.created_at > sc.starts_at
        if ticket.outage_id == yh.id:
            assert account.feeder_code == "YH-F02" and yh.starts_at < ticket.created_at < yh.completed_at  # type: ignore[operator]


@pytest.mark.db
async def test_no_power_reports_are_counted_on_a_current_fault(demo: Maker) -> None:
    _, (sc, _), _ = await faults(demo)
    async with demo() as session:
        reports = list(await session.scalars(select(OutageReport).order_by(OutageReport.created_at)))
        accounts = {a.id: a for a in await session.scalars(select(UtilityAccount))}
        tickets = {t.id: t for t in await session.scalars(select(FaultTicket))}
        bindings = set((await session.execute(select(IdentityAccount.identity_id, IdentityAccount.account_id))).all())
    assert len(reports) >= 3
    assert {r.outage_id for r in reports} == {sc.id} and {r.feeder_code for r in reports} == {"SC-F02"}
    assert len({r.account_id for r in reports}) == len(reports)  # one report per customer
    for report in reports:
        assert report.account_id is not None and accounts[report.account_id].feeder_code == "SC-F02"
        assert (report.identity_id, report.account_id) in bindings
        assert sc.starts_at < report.created_at < NOW
        if report.ticket_id is not None:
            ticket = tickets[report.ticket_id]
            assert ticket.account_id == report.account_id and ticket.outage_id == sc.id
    assert 0 < sum(r.ticket_id is not None for r in reports) < len(reports)  # some only said "no power"


@pytest.mark.db
async def test_the_public_api_lists_both_faults_with_their_estimates_and_not_the_restored_one(
    demo: Maker, settings: Settings
) -> None:
    (bj, _), (sc, _), (yh, _) = await faults(demo)
    async with api_client(settings, FrozenClock(NOW)) as http:
        for lang, district in (("zh", "上城区"), ("en", "Shangcheng District")):
            found = await http.get("/api/v1/public/outages", params={"lang": lang})
            assert found.status_code == 200
            items = found.json()["items"]
            ongoing = {i["id"]: i for i in items if i["status"] == "ongoing"}
            assert set(ongoing) == {bj.id, sc.id}  # the restored one is not going on, nor to come
            assert yh.id not in {i["id"] for i in items}
            for fault in (bj, sc):
                item = ongoing[fault.id]
                assert item["kind"] == "unplanned" and item["ends_at"] is None
                assert datetime.fromisoformat(item["estimated_restoration_at"]) == fault.estimated_restoration_at
                assert datetime.fromisoformat(item["updated_at"]) == fault.updated_at  # when the estimate moved
            assert [f["code"] for f in ongoing[sc.id]["feeders"]] == ["SC-F02"]
            assert [a["name"] for a in ongoing[sc.id]["areas"]] == [district]
            assert [i["id"] for i in items[:2]] == [bj.id, sc.id]  # going on now first, the oldest first

        board = await http.get("/outages/board", params={"lang": "en"})  # what the public page shows
        assert board.status_code == 200
        found = re.findall(r'class="district (\w+)" data-area="(\w+)"', board.text)
        assert sorted((area, status) for status, area in found) == [
            ("BJ", "fault"),  # both faults colour their district; the restored one's (Yuhang) is back to normal
            ("GS", "planned"),
            ("SC", "fault"),
            ("XH", "planned"),
            ("YH", "ok"),
        ]


@pytest.mark.db
async def test_a_customer_of_the_new_fault_hears_of_it_and_finds_their_ticket_in_the_chat(
    demo: Maker, settings: Settings
) -> None:
    _, (sc, _), _ = await faults(demo)
    async with demo() as session:
        ticket = await session.scalar(select(FaultTicket).where(FaultTicket.status == "on_site"))
        assert ticket is not None and ticket.outage_id == sc.id and ticket.identity_id is not None
        identity = await session.get(Identity, ticket.identity_id)
        assert identity is not None and identity.channel == "telegram"
    clock = FrozenClock(NOW)
    chat = Chat(demo, build_conversations(settings, clock, demo_nlu()), identity.id, MemoryStateBackend(clock))

    text = await chat.text(PHRASES[identity.language]["outage_status"])
    assert sc.estimated_restoration_at is not None
    assert sc.estimated_restoration_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") in text
    assert "望江线" in text and "江南线" not in text  # their own line's fault, not the other district's
    text = await chat.text("报修进度")
    assert ticket.reference in text


@pytest.mark.db
async def test_two_loads_give_the_same_storm_and_a_loaded_database_is_refused(demo: Maker, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with session_scope(sessions) as session:
            first = await load_demo(session, NOW)
        assert (first.outages, first.tickets, first.outage_reports) == (5, 7, 4)
        expected = await snapshot(demo)
        assert await snapshot(sessions) == expected
        assert Counter(t[2] for t in expected["tickets"].values()).keys() == STATUSES

        async with sessions() as session:
            with pytest.raises(Conflict, match="--force"):
                await load_demo(session, NOW)
        async with session_scope(sessions) as session:
            again = await load_demo(session, NOW, force=True)
        assert again == first
        assert await snapshot(sessions) == expected
    finally:
        await engine.dispose()
