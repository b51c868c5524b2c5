"""The bills file: amounts and lines computed from the account's tariff, the file's amount cross-checked,
upserted by (account number, period), and the bills created or changed handed back for what follows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from core.clock import FrozenClock
from core.db import session_scope
from core.imports import BillRef, ImportKind
from core.models import Bill, Tariff, UtilityAccount
from tests.core.imports.importing import Maker, counts, example, load_examples, rows, run, snapshot, where

BILLS = ImportKind.BILLS
SEPTEMBER = "3309000001,2026-09,380,260,120,2026-10-18,189.74,2026-10-03 09:00,2026-10-10 20:15"


async def bill(sessionmaker: Maker, number: str, period: str) -> Bill:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(Bill)
            .join(UtilityAccount, UtilityAccount.id == Bill.account_id)
            .where(UtilityAccount.account_number == number, Bill.period == period)
            .options(selectinload(Bill.lines))
        )
    assert found is not None
    return found


def lines(found: Bill) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(line.kind, line.kwh, line.unit_price, line.amount) for line in found.lines]


async def test_the_example_prices_every_bill_from_its_tariff_and_a_second_import_changes_nothing(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.CONTACTS)
    report = await run(sessionmaker, clock, BILLS, example(BILLS))
    assert counts(report) == {"bills": (6, 0, 0)}
    assert [(ref.account_number, ref.period) for ref in report.changed_bills] == [
        ("3309000001", "2026-09"),
        ("3309000001", "2026-10"),
        ("3309000002", "2026-10"),
        ("3309000003", "2026-10"),
        ("3309000004", "2026-10"),
        ("3309000005", "2026-10"),
    ]

    september = await bill(sessionmaker, "3309000001", "2026-09")
    assert (september.kwh, september.kwh_peak, september.kwh_valley, september.amount) == (
        380,
        260,
        120,
        Decimal("189.74"),
    )
    assert lines(september) == [
        ("peak", 260, Decimal("0.568"), Decimal("147.68")),
        ("valley", 120, Decimal("0.288"), Decimal("34.56")),
        ("tier2", 150, Decimal("0.05"), Decimal("7.50")),
    ]
    assert (september.period_start, september.period_end, september.days) == (date(2026, 9, 1), date(2026, 9, 30), 30)
    assert september.issued_at == datetime(2026, 10, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert september.paid_at == datetime(2026, 10, 10, 12, 15, tzinfo=UTC)
    october = await bill(sessionmaker, "3309000001", "2026-10")  # no amount in the file: computed all the same
    assert (october.amount, october.paid_at, october.due_date) == (Decimal("143.31"), None, date(2026, 11, 17))
    flat = await bill(sessionmaker, "3309000003", "2026-10")  # a total alone, under a flat tariff: at the peak price
    assert lines(flat) == [("peak", 180, Decimal("0.558"), Decimal("100.44")), ("valley", 0, Decimal("0.558"), 0)]

    stored = await snapshot(sessionmaker)
    again = await run(sessionmaker, clock, BILLS, example(BILLS))
    assert (counts(again), again.changed_bills) == ({"bills": (0, 0, 6)}, ())
    assert await snapshot(sessionmaker) == stored


async def test_the_amount_of_the_file_is_a_cross_check_within_a_cent(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ImportKind.ACCOUNTS)
    off_by_a_cent = await run(sessionmaker, clock, BILLS, rows(BILLS, SEPTEMBER.replace("189.74", "189.75")))
    assert counts(off_by_a_cent) == {"bills": (1, 0, 0)}
    assert (await bill(sessionmaker, "3309000001", "2026-09")).amount == Decimal("189.74")  # the computed one

    wrong = await run(sessionmaker, clock, BILLS, rows(BILLS, SEPTEMBER.replace("189.74", "189.76")))
    assert where(wrong) == [(2, "amount")]
    assert wrong.errors[0].message == (
        "amount 189.76 differs from 189.74 computed from tariff 'RES-TIERED-TOU' (peak 260 kWh × 0.568 = 147.68; "
        "valley 120 kWh × 0.288 = 34.56; tier2 150 kWh × 0.05 = 7.50)"
    )


async def test_a_payment_or_a_new_tariff_changes_the_bill_and_is_handed_back(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock)
    unpaid = rows(BILLS, "3309000001,2026-10,,198,96,2026-11-17,,,2026-11-12")  # paid now; issued_at left as it was
    report = await run(sessionmaker, clock, BILLS, unpaid)
    assert counts(report) == {"bills": (0, 1, 0)}
    account_id = (await bill(sessionmaker, "3309000001", "2026-10")).account_id
    paid = BillRef(account_id, "3309000001", "2026-10", corrected=False)  # a payment: the same figures
    assert report.changed_bills == (paid,)
    october = await bill(sessionmaker, "3309000001", "2026-10")
    assert october.paid_at == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
    assert october.issued_at == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(Tariff).where(Tariff.code == "RES-TIERED-TOU").values(tier2_surcharge=Decimal("0.10"))
        )
    repriced = await run(sessionmaker, clock, BILLS, rows(BILLS, SEPTEMBER.replace(",189.74,", ",,")))
    assert counts(repriced) == {"bills": (0, 1, 0)} and [b.corrected for b in repriced.changed_bills] == [True]
    september = await bill(sessionmaker, "3309000001", "2026-09")
    assert september.amount == Decimal("197.24") and lines(september)[-1] == (
        "tier2",
        150,
        Decimal("0.1"),
        Decimal("15.00"),
    )


async def test_every_bad_row_is_reported_with_numbers_masked_and_nothing_is_stored(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.CONTACTS)
    before = await snapshot(sessionmaker)
    bad = rows(
        BILLS,
        SEPTEMBER,
        SEPTEMBER,  # twice
        "3309000002,2026-10,210,,,2026-11-17,,,",  # a total alone under a time-of-use tariff
        "3309000002,2026-09,200,150,60,2026-10-17,,,",  # the total is not the sum
        "3309000004,2026-10,,312000,,2026-11-17,,,",  # the valley missing
        "3309000004,2026-09,,,,2026-10-17,,,",  # no usage at all
        "3309000005,2026-12,,100,50,2027-01-17,,,",  # a month not begun (the clock is in November)
        "3309000005,2026-09,,100,50,2026-08-30,,,",  # due before the month
        "3309000099,2026-10,,100,50,2026-11-17,,,",  # no such account
        "3309000003,2026-13,-5,1.25,,2026-11-31,abc,2026-11-24,",  # bad cells; issued tomorrow
    )
    report = await run(sessionmaker, clock, BILLS, bad)
    assert where(report) == [
        (3, "period"),
        (4, "kwh"),
        (5, "kwh"),
        (6, "kwh_valley"),
        (7, "kwh"),
        (8, "period"),
        (9, "due_date"),
        (10, "account_number"),
        (11, "period"),
        (11, "kwh"),
        (11, "kwh_peak"),
        (11, "due_date"),
        (11, "amount"),
        (11, "issued_at"),
    ]
    messages = {(error.line, error.column): error.message for error in report.errors}
    assert messages[(3, "period")].startswith("the same bill of this account for this period already on line 2")
    assert (
        messages[(4, "kwh")]
        == "tariff 'RES-TIERED-TOU' prices peak and valley differently: give kwh_peak and kwh_valley"
    )
    assert messages[(5, "kwh")] == "kwh 200 is not kwh_peak + kwh_valley (210)"
    assert messages[(6, "kwh_valley")] == "give both kwh_peak and kwh_valley, or neither"
    assert messages[(7, "kwh")] == "give the usage: kwh, or kwh_peak and kwh_valley"
    assert messages[(8, "period")] == "period 2026-12 has not begun yet"
    assert messages[(9, "due_date")] == "due date 2026-08-30 lies before the period 2026-09"
    assert messages[(10, "account_number")].startswith("account 33******99 is not in the database")
    assert not any("3309" in message for message in messages.values())
    assert await snapshot(sessionmaker) == before


async def test_a_dry_run_lists_what_it_would_change_and_writes_nothing(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ImportKind.CONTACTS)
    before = await snapshot(sessionmaker)
    report = await run(sessionmaker, clock, BILLS, example(BILLS), dry_run=True)
    assert counts(report) == {"bills": (6, 0, 0)} and len(report.changed_bills) == 6
    assert await snapshot(sessionmaker) == before
