"""The tariffs file: upserted by code, figures stored exactly as written (more decimals than a column keeps are
refused, so that a second import finds nothing changed)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from sqlalchemy import select

from core.clock import FrozenClock
from core.imports import ImportKind
from core.models import Tariff
from tests.core.imports.importing import Maker, counts, example, nothing_stored, rows, run, snapshot, where

TARIFFS = ImportKind.TARIFFS


async def test_the_example_creates_the_tariffs_and_a_second_import_changes_nothing(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    assert counts(await run(sessionmaker, clock, TARIFFS, example(TARIFFS))) == {"tariffs": (3, 0, 0)}
    async with sessionmaker() as session:
        tariff = await session.scalar(select(Tariff).where(Tariff.code == "RES-TIERED-TOU"))
    assert tariff is not None
    assert (tariff.name, tariff.tier1_limit_kwh, tariff.tier2_limit_kwh) == ("居民阶梯分时电价", 230, 400)
    assert (tariff.tier2_surcharge, tariff.tier3_surcharge) == (Decimal("0.05"), Decimal("0.30"))
    assert (tariff.peak_price, tariff.valley_price) == (Decimal("0.568"), Decimal("0.288"))
    assert (tariff.peak_starts, tariff.valley_starts) == (time(8, 0), time(22, 0))

    stored = await snapshot(sessionmaker)
    assert counts(await run(sessionmaker, clock, TARIFFS, example(TARIFFS))) == {"tariffs": (0, 0, 3)}
    assert await snapshot(sessionmaker) == stored

    cheaper = rows(TARIFFS, "RES-FLAT,居民合表电价,99999999,99999999,0,0,0.538,0.538,08:00,22:00")
    assert counts(await run(sessionmaker, clock, TARIFFS, cheaper)) == {"tariffs": (0, 1, 0)}


async def test_every_bad_row_is_reported_and_nothing_is_stored(sessionmaker: Maker, clock: FrozenClock) -> None:
    bad = rows(
        TARIFFS,
        "RES,居民,400,230,0.05,0.30,0.568,0.288,08:00,22:00",  # tier 2 below tier 1
        "RES2,居民,230,400,0.05,-0.30,0.56812,0.288,8:00,25:00",  # negative, too many places, no such hour
        "RES2,,230.55,400,0.05,0.30,0.568,cheap,08:00,22:00",  # the same code, no name, bad figures
    )
    report = await run(sessionmaker, clock, TARIFFS, bad)
    assert where(report) == [
        (2, "tier2_limit_kwh"),
        (3, "tier3_surcharge"),
        (3, "peak_price"),
        (3, "valley_starts"),
        (4, "code"),
        (4, "name"),
        (4, "tier1_limit_kwh"),
        (4, "valley_price"),
    ]
    assert report.errors[0].message == "must not be below tier1_limit_kwh (400)"
    assert report.errors[2].message == "at most 4 decimal places"
    assert await nothing_stored(sessionmaker)
