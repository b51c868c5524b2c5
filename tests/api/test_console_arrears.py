"""The console's arrears page (/console/arrears) on the demo data, on both databases: the unpaid bills past their
due date, most overdue first, account numbers masked, with the last reminder sent; admins and supervisors see
every account, an account manager their own key accounts only, an agent nothing; zh and en."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import Bill, Identity, IdentityAccount, NoticeDelivery, UtilityAccount
from core.models.enums import ChatChannel, DeliveryStatus, SubjectKind
from core.security import mask_account
from core.services import CoreServices
from tests.support.applications import FACTORY, WATERWORKS, DemoKeyAccount, demo_key_account
from tests.support.dialogue import load_demo_data
from tests.support.staff import api_client, console_login

Maker = async_sessionmaker[AsyncSession]
TODAY = date(2026, 11, 23)  # the clock's local date


@pytest.fixture
async def http(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await load_demo_data(sessionmaker, clock)
    async with api_client(settings, clock) as client:
        yield client


async def overdue(sessionmaker: Maker, account_id: int, days: int) -> Bill:
    """The account's latest bill made unpaid and `days` overdue."""
    async with session_scope(sessionmaker) as session:
        bill = await session.scalar(select(Bill).where(Bill.account_id == account_id).order_by(Bill.period.desc()))
        assert bill is not None
        bill.paid_at, bill.due_date = None, TODAY - timedelta(days=days)
        return bill


@pytest.fixture
async def world(
    http: httpx.AsyncClient, sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> tuple[DemoKeyAccount, DemoKeyAccount, str]:
    """Every bill paid but three: Waterworks' (manager.wang) 10 days overdue, the Factory's (manager.chen) 5, and
    a resident's 3, whose opted-in customer has been reminded. Returns the two key accounts and the resident's
    account number."""
    async with session_scope(sessionmaker) as session:
        await session.execute(update(Bill).values(paid_at=clock.now()))
        identity_id, account_id, number = (
            await session.execute(
                select(Identity.id, UtilityAccount.id, UtilityAccount.account_number)
                .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
                .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
                .where(Identity.channel == ChatChannel.TELEGRAM, UtilityAccount.account_number.not_like("3390%"))
                .order_by(Identity.id)
            )
        ).first()  # type: ignore[misc]
        await session.execute(update(Identity).where(Identity.id == identity_id).values(bill_reminders=True))
    waterworks = await demo_key_account(sessionmaker, WATERWORKS)
    factory = await demo_key_account(sessionmaker, FACTORY)
    await overdue(sessionmaker, waterworks.account_id, 10)
    await overdue(sessionmaker, factory.account_id, 5)
    resident = await overdue(sessionmaker, account_id, 3)
    async with session_scope(sessionmaker) as session:
        assert await CoreServices.build(settings, clock).bill_reminders.run(session) == 1
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.subject_kind == SubjectKind.BILL, NoticeDelivery.subject_id == resident.id)
            .values(status=DeliveryStatus.SENT, sent_at=clock.now())
        )
    return waterworks, factory, number


async def sign_in(http: httpx.AsyncClient, username: str) -> None:
    await http.post("/console/logout")
    http.cookies.clear()
    await console_login(http, username, "gridtalk-demo")  # the demo staff's password


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr class="arrear">.*?</tr>', page, re.S)


async def test_a_supervisor_sees_every_overdue_bill_most_overdue_first(
    http: httpx.AsyncClient, world: tuple[DemoKeyAccount, DemoKeyAccount, str]
) -> None:
    waterworks, factory, resident = world
    await sign_in(http, "supervisor.zhou")
    page = await http.get("/console/arrears")
    assert page.status_code == 200 and "<h1>欠费</h1>" in page.text
    rows = rows_of(page.text)
    assert len(rows) == 3
    assert mask_account(waterworks.number) in rows[0] and "10 天" in rows[0] and "大客户" in rows[0]
    assert waterworks.number not in page.text  # masked
    assert mask_account(factory.number) in rows[1] and "5 天" in rows[1] and "未提醒" in rows[1]
    assert mask_account(resident) in rows[2] and "3 天" in rows[2] and "未提醒" not in rows[2]  # reminded
    assert "2026-11-23 17:30" in rows[2]  # when, in local time
    english = await http.get("/console/arrears", params={"lang": "en"})
    assert "<h1>Arrears</h1>" in english.text and "10 day(s)" in english.text and "not reminded" in english.text


async def test_an_account_manager_sees_their_own_key_accounts_only_an_agent_nothing(
    http: httpx.AsyncClient, world: tuple[DemoKeyAccount, DemoKeyAccount, str]
) -> None:
    waterworks, factory, resident = world
    await sign_in(http, "manager.wang")
    assert 'href="/console/arrears"' in (await http.get("/console")).text
    page = (await http.get("/console/arrears")).text
    [row] = rows_of(page)
    assert mask_account(waterworks.number) in row and waterworks.name in row
    assert mask_account(resident) not in page and mask_account(factory.number) not in page
    await sign_in(http, "manager.chen")
    [row] = rows_of((await http.get("/console/arrears")).text)
    assert mask_account(factory.number) in row
    await sign_in(http, "agent.li")
    assert (await http.get("/console/arrears")).status_code == 403
    assert "/console/arrears" not in (await http.get("/console")).text


async def test_nothing_overdue(http: httpx.AsyncClient, sessionmaker: Maker, clock: FrozenClock) -> None:
    async with session_scope(sessionmaker) as session:
        await session.execute(update(Bill).values(paid_at=clock.now()))
    await sign_in(http, "admin")
    page = await http.get("/console/arrears", params={"lang": "en"})
    assert page.status_code == 200 and "No unpaid bill is past its due date." in page.text and not rows_of(page.text)
