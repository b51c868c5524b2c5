"""The topology file: areas and feeders upserted by code; every bad row reported, nothing of a bad file stored."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import FrozenClock
from core.imports import ImportKind
from core.models import Area, Feeder
from tests.core.imports.importing import (
    Maker,
    counts,
    example,
    load_examples,
    nothing_stored,
    rows,
    run,
    snapshot,
    where,
)

TOPOLOGY = ImportKind.TOPOLOGY


async def test_the_example_creates_areas_and_feeders_and_a_second_import_changes_nothing(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    first = await run(sessionmaker, clock, TOPOLOGY, example(TOPOLOGY))
    assert (first.rows, counts(first)) == (3, {"areas": (2, 0, 0), "feeders": (3, 0, 0)})
    async with sessionmaker() as session:
        areas = {a.code: (a.name, a.name_en) for a in await session.scalars(select(Area))}
        feeders = {f.code: (f.area_code, f.name) for f in await session.scalars(select(Feeder))}
        lines = await session.scalar(select(Feeder.lines).where(Feeder.code == "LA-F01"))
    assert areas == {"XS": ("萧山区", "Xiaoshan District"), "LA": ("临安区", "Lin'an District")}
    assert feeders == {"XS-F01": ("XS", "城厢线"), "XS-F02": ("XS", "北干线"), "LA-F01": ("LA", "锦城线")}
    assert lines == "10kV 锦城线（锦城变—钱王街环网柜）"

    stored = await snapshot(sessionmaker)
    again = await run(sessionmaker, clock, TOPOLOGY, example(TOPOLOGY))
    assert counts(again) == {"areas": (0, 0, 2), "feeders": (0, 0, 3)}
    assert await snapshot(sessionmaker) == stored


async def test_changed_names_are_updated_and_left_out_columns_kept(sessionmaker: Maker, clock: FrozenClock) -> None:
    await run(sessionmaker, clock, TOPOLOGY, example(TOPOLOGY))
    head = "area_code,area_name,feeder_code,feeder_name"  # no English name, no lines: kept as they are
    report = await run(sessionmaker, clock, TOPOLOGY, rows(TOPOLOGY, "XS,萧山,XS-F01,城厢线", head=head))
    assert counts(report) == {"areas": (0, 1, 0), "feeders": (0, 0, 1)}
    async with sessionmaker() as session:
        area = await session.get(Area, "XS")
        feeder = await session.get(Feeder, "XS-F01")
    assert area is not None and (area.name, area.name_en) == ("萧山", "Xiaoshan District")
    assert feeder is not None and feeder.lines.startswith("10kV 城厢线")


async def test_every_bad_row_is_reported_and_nothing_is_stored(sessionmaker: Maker, clock: FrozenClock) -> None:
    bad = rows(
        TOPOLOGY,
        "XS,萧山区,Xiaoshan District,XS-F01,城厢线,",
        "XS,萧山,Xiaoshan District,XS-F02,北干线,",  # the area named differently
        "LA,临安区,,XS-F01,锦城线,",  # the same feeder twice
        "LA 1,临安区,,LA-F01,,",  # a bad code, a feeder without a name
        "LA,临安区,,LA-F02," + "长" * 101 + ",",  # a name too long
    )
    report = await run(sessionmaker, clock, TOPOLOGY, bad)
    assert report.refused and report.rows == 5 and report.tallies == {}
    assert where(report) == [
        (3, "area_name"),
        (4, "feeder_code"),
        (5, "area_code"),
        (5, "feeder_name"),
        (6, "feeder_name"),
    ]
    assert report.errors[0].message.startswith("area 'XS' is described differently on line 2")
    assert report.errors[1].message.startswith("the same feeder already on line 2")
    assert await nothing_stored(sessionmaker)


async def test_a_feeder_with_accounts_cannot_move_to_another_area(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ImportKind.ACCOUNTS)  # an account is on XS-F02
    moved = await run(sessionmaker, clock, TOPOLOGY, rows(TOPOLOGY, "LA,临安区,Lin'an District,XS-F02,北干线,"))
    assert where(moved) == [(2, "area_code")]
    assert moved.errors[0].message == (
        "feeder 'XS-F02' belongs to area 'XS' and has accounts: moving it to 'LA' would leave them in the wrong area"
    )

    await run(sessionmaker, clock, TOPOLOGY, rows(TOPOLOGY, "XS,萧山区,Xiaoshan District,XS-F03,新塘线,"))
    free = await run(sessionmaker, clock, TOPOLOGY, rows(TOPOLOGY, "LA,临安区,Lin'an District,XS-F03,新塘线,"))
    assert counts(free) == {"areas": (0, 0, 1), "feeders": (0, 1, 0)}


async def test_a_dry_run_counts_and_writes_nothing(sessionmaker: Maker, clock: FrozenClock) -> None:
    report = await run(sessionmaker, clock, TOPOLOGY, example(TOPOLOGY), dry_run=True)
    assert not report.refused and report.dry_run and not report.written
    assert counts(report) == {"areas": (2, 0, 0), "feeders": (3, 0, 0)}
    assert await nothing_stored(sessionmaker)
