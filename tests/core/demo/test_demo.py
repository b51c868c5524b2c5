"""core.demo: the deterministic demo data set, loaded into a real (SQLite) database built by Alembic."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.billing.calc import TariffTerms, compute_bill_lines
from core.db import make_engine, make_sessionmaker, session_scope
from core.db.migrate import upgrade_async
from core.demo import DEMO_PASSWORD, build_dataset, database_is_empty, list_demo_accounts, load_demo
from core.errors import Conflict
from core.models import (
    Area,
    Base,
    Bill,
    BillLine,
    Customer,
    Feeder,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    Outage,
    OutageArea,
    OutageFeeder,
    StaffUser,
    Tariff,
    UtilityAccount,
)
from core.security import verify_password
from tests.conftest import empty_tables

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIODS = [f"{2025 + (m > 12)}-{(m - 1) % 12 + 1:02d}" for m in range(11, 23)]  # 2025-11 … 2026-10


@dataclass
class Db:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


async def new_db(path: Path) -> Db:
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    engine = make_engine(url)
    return Db(engine, make_sessionmaker(engine))


@pytest.fixture(scope="module")
async def demo(engine: AsyncEngine, database_url: str) -> AsyncIterator[Db]:
    """The test database (SQLite, or PostgreSQL in that run) with the demo loaded, shared by the read-only
    tests of this module; emptied afterwards."""
    db = Db(engine, make_sessionmaker(engine))
    async with session_scope(db.sessions) as session:
        await load_demo(session, NOW, force=True)
    yield db
    await empty_tables(engine)


@pytest.fixture
async def session(demo: Db) -> AsyncIterator[AsyncSession]:
    async with demo.sessions() as s:
        yield s
        await s.rollback()


async def bill_totals(session: AsyncSession) -> list[tuple[str, str, Decimal, Decimal]]:
    rows = await session.execute(
        select(UtilityAccount.account_number, Bill.period, Bill.kwh, Bill.amount)
        .join(Bill, Bill.account_id == UtilityAccount.id)
        .order_by(UtilityAccount.account_number, Bill.period)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


# ------------------------------------------------------------------------------------------- pure


def test_dataset_is_deterministic_and_customers_do_not_depend_on_now() -> None:
    first, second = build_dataset(NOW), build_dataset(NOW)
    assert first == second
    later = build_dataset(NOW + timedelta(days=20))
    people = [(a.account_number, a.customer_name, a.phone, a.address) for a in first.accounts]
    assert people == [(a.account_number, a.customer_name, a.phone, a.address) for a in later.accounts]
    assert [b.period for b in later.accounts[0].bills][-1] == "2026-11"


def test_dataset_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        build_dataset(datetime(2026, 11, 23, 9, 30))


# --------------------------------------------------------------------------------------------- db


@pytest.mark.db
async def test_counts(session: AsyncSession) -> None:
    async def count(model: type[Base], *where: ColumnElement[bool]) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    assert await count(Customer, Customer.segment == "residential") >= 200
    assert await count(Customer, Customer.segment == "key_account") >= 5
    assert await count(Customer) == await count(UtilityAccount)
    assert await count(Area) >= 5
    assert await count(Feeder) == 2 * await count(Area)
    assert await count(Tariff) == 2
    assert await count(Bill) == 12 * await count(UtilityAccount)
    assert await count(Outage) == 5  # two planned, and the storm: two faults now, one restored (test_demo_storm)
    assert await count(Identity, Identity.channel == "telegram", Identity.subscribed_notices.is_(True)) >= 50


@pytest.mark.db
async def test_residential_tariff(session: AsyncSession) -> None:
    tariff = await session.scalar(select(Tariff).where(Tariff.name == "居民阶梯分时电价"))
    assert tariff is not None
    assert (tariff.tier1_limit_kwh, tariff.tier2_limit_kwh) == (Decimal(230), Decimal(400))
    assert (tariff.peak_price, tariff.valley_price) == (Decimal("0.568"), Decimal("0.288"))
    assert (tariff.tier2_surcharge, tariff.tier3_surcharge) == (Decimal("0.05"), Decimal("0.30"))
    assert (tariff.peak_starts.hour, tariff.valley_starts.hour) == (8, 22)


@pytest.mark.db
async def test_key_accounts_have_a_manager_and_contacts(session: AsyncSession) -> None:
    rows = (
        await session.execute(
            select(UtilityAccount, Customer, KeyAccountProfile, StaffUser)
            .join(Customer, UtilityAccount.customer_id == Customer.id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .join(StaffUser, KeyAccountProfile.account_manager_id == StaffUser.id)
        )
    ).all()
    names = {customer.name for _, customer, _, _ in rows}
    assert {"市第一人民医院", "华东精密机械厂", "云谷数据中心", "城西自来水厂", "市政务服务中心"} <= names
    assert len(rows) == await session.scalar(
        select(func.count()).select_from(Customer).where(Customer.segment == "key_account")
    )
    languages: Counter[str] = Counter()
    for account, customer, profile, manager in rows:
        assert customer.segment == "key_account"
        assert manager.role == "account_manager"
        assert manager.username.startswith("manager.")
        assert manager.display_name and manager.phone and manager.email and manager.telegram_chat_id
        assert profile.category
        contacts = (
            await session.scalars(select(KeyAccountContact).where(KeyAccountContact.account_id == account.id))
        ).all()
        assert 2 <= len(contacts) <= 3, customer.name
        for contact in contacts:
            assert contact.name and contact.title and contact.telegram_chat_id
            assert contact.email is not None and contact.email.endswith("@example.com")
            assert contact.phone is not None and re.fullmatch(r"1[358]\d{9}", contact.phone)
            languages[contact.language] += 1
    assert languages["zh"] > languages["en"] >= 1


@pytest.mark.db
async def test_staff_logins(session: AsyncSession) -> None:
    staff = {s.username: s for s in await session.scalars(select(StaffUser))}
    assert staff["admin"].role == "admin"
    assert staff["agent.li"].role == "agent"
    assert verify_password(DEMO_PASSWORD, staff["admin"].password_hash)
    assert len({s.password_hash for s in staff.values()}) == 1  # hashed once


@pytest.mark.db
async def test_telegram_identities_are_bound_and_subscribed(session: AsyncSession) -> None:
    rows = (
        await session.execute(
            select(Identity, IdentityAccount, UtilityAccount, Customer)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, IdentityAccount.account_id == UtilityAccount.id)
            .join(Customer, UtilityAccount.customer_id == Customer.id)
        )
    ).all()
    assert len(rows) >= 50
    assert len(rows) == await session.scalar(select(func.count()).select_from(Identity))
    languages = Counter(identity.language for identity, *_ in rows)
    assert languages["zh"] > languages["en"] > 0
    feeders = set()
    for identity, binding, account, customer in rows:
        assert identity.channel == "telegram"
        assert identity.external_id == str(identity.telegram_chat_id)
        assert identity.subscribed_notices
        assert binding.is_current
        assert binding.verified_at < NOW
        assert customer.segment == "residential"
        feeders.add(account.feeder_code)
    assert feeders == set(await session.scalars(select(Feeder.code)))


@pytest.mark.db
async def test_outages(session: AsyncSession) -> None:
    everything = (await session.scalars(select(Outage).order_by(Outage.starts_at.desc()))).all()
    far, near = [o for o in everything if o.kind == "planned"]
    fault = min((o for o in everything if o.kind == "unplanned"), key=lambda o: o.id)  # BJ-F01's, loaded first
    outages = [far, near, fault]  # the rest of the storm: tests/core/test_demo_storm.py
    areas = {
        o.id: set(await session.scalars(select(OutageArea.area_code).where(OutageArea.outage_id == o.id)))
        for o in outages
    }
    feeders = {
        o.id: set(await session.scalars(select(OutageFeeder.feeder_code).where(OutageFeeder.outage_id == o.id)))
        for o in outages
    }

    assert far.kind == "planned" and far.status == "published" and far.published_at == NOW
    assert far.starts_at - NOW >= timedelta(days=16)
    assert far.starts_at.astimezone(SHANGHAI).hour == 8
    assert far.ends_at - far.starts_at == timedelta(hours=6)
    assert far.reason == "10kV线路检修" and far.contact == "95598"
    assert len(areas[far.id]) == 1 and not feeders[far.id]

    assert near.kind == "planned" and near.status == "published"
    assert timedelta(days=2) < near.starts_at - NOW <= timedelta(days=4)
    assert len(feeders[near.id]) == 1 and not areas[near.id]

    assert fault.kind == "unplanned" and fault.status == "published"
    assert fault.starts_at == NOW - timedelta(hours=1)
    assert fault.estimated_restoration_at is not None
    assert timedelta(hours=2) <= fault.estimated_restoration_at - NOW <= timedelta(hours=3)
    assert fault.reason == "线路故障抢修"
    assert len(feeders[fault.id]) == 1 and not areas[fault.id]

    feeder_areas = dict((await session.execute(select(Feeder.code, Feeder.area_code))).all())
    touched = [*areas[far.id], *(feeder_areas[f] for f in feeders[near.id] | feeders[fault.id])]
    assert len(set(touched)) == 3  # three different areas


@pytest.mark.db
async def test_bills_add_up_and_follow_the_tariff(session: AsyncSession) -> None:
    tariffs = {t.id: TariffTerms.from_tariff(t) for t in await session.scalars(select(Tariff))}
    account_tariff = dict((await session.execute(select(UtilityAccount.id, UtilityAccount.tariff_id))).all())
    lines: dict[int, list[BillLine]] = defaultdict(list)
    for line in await session.scalars(select(BillLine).order_by(BillLine.bill_id, BillLine.position)):
        lines[line.bill_id].append(line)
    bills = (await session.scalars(select(Bill))).all()
    periods: dict[int, list[str]] = defaultdict(list)
    for bill in bills:
        own = lines[bill.id]
        assert bill.amount == sum((line.amount for line in own), Decimal(0)), bill.id
        assert bill.kwh == bill.kwh_peak + bill.kwh_valley
        expected = compute_bill_lines(tariffs[account_tariff[bill.account_id]], bill.kwh_peak, bill.kwh_valley)
        assert [(e.kind, e.kwh, e.amount) for e in expected] == [(o.kind, o.kwh, o.amount) for o in own]
        assert [line.position for line in own] == list(range(1, len(own) + 1))
        issued = bill.issued_at.astimezone(SHANGHAI).date()
        assert issued == bill.period_end + timedelta(days=issued.day) and 1 <= issued.day <= 3
        assert bill.due_date == issued + timedelta(days=15)
        assert bill.days == (bill.period_end - bill.period_start).days + 1
        assert bill.issued_at <= NOW
        assert bill.paid_at is None or bill.issued_at < bill.paid_at <= NOW
        periods[bill.account_id].append(bill.period)
    assert all(sorted(p) == PERIODS for p in periods.values())
    overdue = [b for b in bills if b.paid_at is None and b.due_date < NOW.astimezone(SHANGHAI).date()]
    assert 0 < len(overdue) < len(bills) // 10  # some arrears, most bills paid
    assert any(len(line_list) == 4 for line_list in lines.values())  # tier-3 months exist


@pytest.mark.db
async def test_residential_use_is_seasonal(session: AsyncSession) -> None:
    rows = await session.execute(
        select(Bill.period, func.avg(Bill.kwh))
        .join(UtilityAccount, Bill.account_id == UtilityAccount.id)
        .join(Customer, UtilityAccount.customer_id == Customer.id)
        .where(Customer.segment == "residential")
        .group_by(Bill.period)
    )
    mean = {period[5:]: float(avg) for period, avg in rows}
    assert mean["08"] > mean["05"] * 1.4 and mean["01"] > mean["04"] * 1.3
    assert 120 < mean["04"] < 250
    share = await session.scalar(
        select(func.sum(Bill.kwh_peak) / func.sum(Bill.kwh))
        .join(UtilityAccount, Bill.account_id == UtilityAccount.id)
        .where(UtilityAccount.tariff_id == select(Tariff.id).where(Tariff.code == "RES-TIERED-TOU").scalar_subquery())
    )
    assert 0.57 < float(share or 0) < 0.63


@pytest.mark.db
async def test_accounts_numbers_phones_addresses(session: AsyncSession) -> None:
    accounts = (await session.scalars(select(UtilityAccount))).all()
    numbers = [a.account_number for a in accounts]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"33\d{8}", n) for n in numbers)
    assert all(re.fullmatch(r"1[358]\d{9}", a.phone) for a in accounts)
    feeder_areas = dict((await session.execute(select(Feeder.code, Feeder.area_code))).all())
    area_names = dict((await session.execute(select(Area.code, Area.name))).all())
    for account in accounts:
        assert feeder_areas[account.feeder_code] == account.area_code
        assert account.address.startswith("杭州市" + area_names[account.area_code])
    residential = await session.scalars(
        select(UtilityAccount.address)
        .join(Customer, UtilityAccount.customer_id == Customer.id)
        .where(Customer.segment == "residential")
    )
    for address in residential:
        assert re.search(r"\d+幢\d单元\d{3,4}室$", address), address


@pytest.mark.db
async def test_list_demo_accounts(session: AsyncSession) -> None:
    accounts = await list_demo_accounts(session)
    assert len(accounts) == await session.scalar(select(func.count()).select_from(UtilityAccount))
    assert set(accounts[0]) == {"account_number", "phone_last4", "segment", "area", "customer_name"}
    segments = [a["segment"] for a in accounts]
    keys = segments.count("key_account")
    assert keys >= 5 and segments[:keys] == ["key_account"] * keys
    assert set(segments[keys:]) == {"residential"}
    for group in (accounts[:keys], accounts[keys:]):
        assert [a["account_number"] for a in group] == sorted(a["account_number"] for a in group)
    assert all(re.fullmatch(r"\d{4}", a["phone_last4"]) for a in accounts)
    assert {a["area"] for a in accounts} == {"XH", "GS", "SC", "BJ", "YH"}


@pytest.mark.db
async def test_refuses_without_force_reloads_with_force_and_is_deterministic(demo: Db, tmp_path: Path) -> None:
    db = await new_db(tmp_path / "second.db")
    try:
        async with db.sessions() as session:
            assert await database_is_empty(session)
            await load_demo(session, NOW)  # does not commit: rolled back with the session
            await session.rollback()
            assert await database_is_empty(session)

        async with session_scope(db.sessions) as session:
            summary = await load_demo(session, NOW)
        assert summary.residential >= 200 and summary.key_accounts >= 5 and summary.outages == 5
        assert summary.customers == summary.residential + summary.key_accounts
        assert summary.identities >= 50 and summary.bills == 12 * summary.customers

        async with db.sessions() as session, demo.sessions() as other:
            assert not await database_is_empty(session)
            assert await list_demo_accounts(session) == await list_demo_accounts(other)
            assert await bill_totals(session) == await bill_totals(other)
            with pytest.raises(Conflict, match="--force"):
                await load_demo(session, NOW)

        async with session_scope(db.sessions) as session:
            again = await load_demo(session, NOW, force=True)
        assert again == summary
        async with db.sessions() as session, demo.sessions() as other:
            assert await list_demo_accounts(session) == await list_demo_accounts(other)
            assert await bill_totals(session) == await bill_totals(other)
            assert await session.scalar(select(func.count()).select_from(Outage)) == 5
            assert await session.scalar(select(func.count()).select_from(StaffUser)) == summary.staff
    finally:
        await db.engine.dispose()


@pytest.mark.db
async def test_keeps_staff_users_that_already_exist(tmp_path: Path) -> None:
    db = await new_db(tmp_path / "staff.db")
    try:
        async with session_scope(db.sessions) as session:
            session.add(StaffUser(username="admin", password_hash="x", role="admin", created_at=NOW))
        async with session_scope(db.sessions) as session:
            assert await database_is_empty(session)
            await load_demo(session, NOW)
        async with db.sessions() as session:
            admin = await session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
            assert admin is not None and admin.password_hash == "x"
            assert await session.scalar(select(func.count()).select_from(StaffUser)) == 6
    finally:
        await db.engine.dispose()


@pytest.mark.db
async def test_load_time(tmp_path: Path) -> None:
    import time

    db = await new_db(tmp_path / "timed.db")
    try:
        started = time.perf_counter()
        async with session_scope(db.sessions) as session:
            await load_demo(session, NOW)
        assert time.perf_counter() - started < 10
    finally:
        await db.engine.dispose()
