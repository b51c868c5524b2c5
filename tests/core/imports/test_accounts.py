"""The accounts file: customers, accounts and key-account profiles upserted by account number; the areas,
feeders, tariffs and managers it names must be in the database; numbers masked in every message."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.clock import FrozenClock
from core.db import session_scope
from core.imports import ImportKind
from core.models import KeyAccountProfile, StaffUser, UtilityAccount
from core.models.enums import Language, Segment
from tests.core.imports.importing import (
    MANAGER,
    Maker,
    counts,
    example,
    load_examples,
    rows,
    run,
    snapshot,
    where,
)
from tests.support.staff import make_staff, staff_service

ACCOUNTS = ImportKind.ACCOUNTS
RESIDENT = (
    "3309000001,陈晓明,residential,zh,杭州市萧山区人民路58号3幢2单元401室,XS,XS-F01,13905710001,RES-TIERED-TOU,,,"
)


async def account(sessionmaker: Maker, number: str) -> UtilityAccount:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(UtilityAccount)
            .where(UtilityAccount.account_number == number)
            .options(selectinload(UtilityAccount.customer))
        )
    assert found is not None
    return found


async def profile(sessionmaker: Maker, number: str) -> KeyAccountProfile | None:
    async with sessionmaker() as session:
        ident = await session.scalar(select(UtilityAccount.id).where(UtilityAccount.account_number == number))
        return await session.get(KeyAccountProfile, ident)


async def test_the_example_creates_customers_accounts_and_a_key_account_and_a_second_import_changes_nothing(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.TARIFFS)
    report = await run(sessionmaker, clock, ACCOUNTS, example(ACCOUNTS))
    assert counts(report) == {"accounts": (5, 0, 0)}

    english = await account(sessionmaker, "3309000002")
    assert (english.customer.name, english.customer.segment, english.customer.language) == (
        "Emily Clark",
        Segment.RESIDENTIAL,
        Language.EN,
    )
    assert (english.phone, english.area_code, english.feeder_code) == ("13905710002", "XS", "XS-F02")  # dashes gone
    hospital = await profile(sessionmaker, "3309000004")
    async with sessionmaker() as session:
        manager = await session.scalar(select(StaffUser.id).where(StaffUser.username == MANAGER))
    assert hospital is not None and (hospital.account_manager_id, hospital.priority, hospital.category) == (
        manager,
        1,
        "hospital",
    )
    assert await profile(sessionmaker, "3309000005") is None

    stored = await snapshot(sessionmaker)
    assert counts(await run(sessionmaker, clock, ACCOUNTS, example(ACCOUNTS))) == {"accounts": (0, 0, 5)}
    assert await snapshot(sessionmaker) == stored


async def test_changes_are_updates_and_a_key_account_can_come_and_go(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ACCOUNTS)
    await make_staff(sessionmaker, clock, "manager.he", "account_manager")
    moved = rows(
        ACCOUNTS,
        RESIDENT.replace("13905710001", "13905719999"),  # a new phone
        "3309000004,萧山区第一人民医院,commercial,zh,杭州市萧山区育才北路199号,XS,XS-F01,0571-82100004,CI-TOU,,,",
        "3309000005,临安锦城超市,key_account,zh,杭州市临安区衣锦街388号,LA,LA-F01,13905710005,CI-TOU,manager.he,4,",
    )
    report = await run(sessionmaker, clock, ACCOUNTS, moved)
    assert counts(report) == {"accounts": (0, 3, 0)}
    assert (await account(sessionmaker, "3309000001")).phone == "13905719999"
    assert await profile(sessionmaker, "3309000004") is None
    shop = await profile(sessionmaker, "3309000005")
    assert shop is not None and (shop.priority, shop.category) == (4, "")

    head = "account_number,customer_name,segment,address,area_code,feeder_code,phone,tariff_code"
    english = (
        "3309000002,Emily Clark,residential,杭州市萧山区金城路1038号5幢1502室,XS,XS-F02,13905710002,RES-TIERED-TOU"
    )
    kept = await run(sessionmaker, clock, ACCOUNTS, rows(ACCOUNTS, english, head=head))
    assert counts(kept) == {"accounts": (0, 0, 1)}  # no language column: the customer's (en) is kept
    assert (await account(sessionmaker, "3309000002")).customer.language == Language.EN


async def test_every_bad_row_is_reported_with_numbers_masked_and_nothing_is_stored(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.TARIFFS)
    disabled = await make_staff(sessionmaker, clock, "disabled.manager", "account_manager")
    async with session_scope(sessionmaker) as session:
        await staff_service(clock).disable(session, disabled.id)
    before = await snapshot(sessionmaker)
    bad = rows(
        ACCOUNTS,
        RESIDENT,
        RESIDENT,  # twice
        "3309000011,王五,residential,zh,某路1号,XX,XS-F09,13905710011,NOPE,,,",  # unknown area, feeder, tariff
        "3309000012,赵六,residential,zh,某路2号,LA,XS-F01,13905710012,RES-FLAT,,,",  # a feeder of another area
        "3309000013,孙八,residential,zh,某路3号,LA,LA-F01,13905710013,RES-FLAT,manager.xu,2,",  # key columns
        "3309000014,钱七,key_account,zh,某路4号,XS,XS-F02,13905710014,CI-TOU,,,factory",  # no manager
        "3309000015,周九,key_account,zh,某路5号,XS,XS-F02,13905710015,CI-TOU,disabled.manager,1,",  # disabled
        "330900001,李四,residents,fr,,XS,XS-F01,1390571001x,RES-FLAT,,,",  # bad cells
    )
    report = await run(sessionmaker, clock, ACCOUNTS, bad)
    assert report.refused and report.rows == 8
    assert where(report) == [
        (3, "account_number"),
        (4, "area_code"),
        (4, "feeder_code"),
        (4, "tariff_code"),
        (5, "feeder_code"),
        (6, "account_manager"),
        (6, "priority"),
        (7, "account_manager"),
        (8, "account_manager"),
        (9, "account_number"),
        (9, "segment"),
        (9, "language"),
        (9, "address"),
        (9, "phone"),
    ]
    messages = [error.message for error in report.errors]
    assert "the same account number already on line 2: each may appear once in a file" in messages
    assert "area 'XX' is not in the database: load it first with `gridtalk import topology`" in messages
    assert "tariff 'NOPE' is not in the database: load it first with `gridtalk import tariffs`" in messages
    assert "a key account needs its account manager (a staff username)" in messages
    assert "feeder 'XS-F01' belongs to area 'XS', not 'LA'" in messages
    assert "only a key account (segment key_account) has account_manager" in messages
    assert (
        "staff user 'disabled.manager' does not exist or is disabled: create it with `gridtalk staff create`"
        in messages
    )
    assert not any("3309" in message or "1390" in message for message in messages)
    assert await snapshot(sessionmaker) == before
