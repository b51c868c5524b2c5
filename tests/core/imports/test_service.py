"""DataImports itself: every example file, with Excel's BOM, imports and imports again unchanged; a written
import is audited with its counts, a dry run or a refused file is not; progress; a wrong header."""

from __future__ import annotations

import pytest

from core.clock import FrozenClock
from core.imports import ImportKind
from tests.core.imports.importing import (
    MANAGER,
    ORDER,
    Maker,
    audit_actions,
    counts,
    example,
    load_examples,
    nothing_stored,
    rows,
    run,
    snapshot,
    where,
)
from tests.support.staff import make_staff

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("kind", ORDER)
async def test_each_example_with_a_bom_imports_then_again_unchanged(
    sessionmaker: Maker, clock: FrozenClock, kind: ImportKind
) -> None:
    await make_staff(sessionmaker, clock, MANAGER, "account_manager")
    if kind is not ORDER[0]:
        await load_examples(sessionmaker, clock, ORDER[ORDER.index(kind) - 1])
    planned = await run(sessionmaker, clock, kind, example(kind), dry_run=True)
    first = await run(sessionmaker, clock, kind, BOM + example(kind))
    assert not first.refused and first.rows == len(example(kind).splitlines()) - 1
    assert counts(first) == counts(planned) and next(iter(counts(first).values()))[0] > 0
    stored = await snapshot(sessionmaker)
    again = await run(sessionmaker, clock, kind, example(kind))
    assert all(created == updated == 0 for created, updated, _ in counts(again).values())
    assert await snapshot(sessionmaker) == stored


async def test_a_written_import_is_audited_with_its_counts_a_dry_run_or_a_refused_one_is_not(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    topology = ImportKind.TOPOLOGY
    await run(sessionmaker, clock, topology, example(topology), dry_run=True)
    await run(sessionmaker, clock, topology, b"area_code\nXS\n")
    assert await audit_actions(sessionmaker) == []
    await run(sessionmaker, clock, topology, example(topology))
    [entry] = await audit_actions(sessionmaker)
    assert (entry.action, entry.target_type, entry.target_id, entry.client, entry.staff_id) == (
        "import.topology",
        "import",
        "topology.csv",
        "test",
        None,
    )
    assert entry.detail == {
        "rows": 3,
        "counts": {
            "areas": {"created": 2, "updated": 0, "unchanged": 0},
            "feeders": {"created": 3, "updated": 0, "unchanged": 0},
        },
    }
    assert entry.at == clock.now()


async def test_a_wrong_header_refuses_the_file_before_any_row(sessionmaker: Maker, clock: FrozenClock) -> None:
    head = "account_number,name,segment,adress,area_code,feeder_code,phone,tariff_code"
    report = await run(sessionmaker, clock, ImportKind.ACCOUNTS, rows(ImportKind.ACCOUNTS, "x,y", head=head))
    assert report.refused and report.rows == 0
    assert where(report) == [(1, "name"), (1, "adress"), (1, "customer_name"), (1, "address")]
    assert report.errors[1].message.startswith("unknown column 'adress'; a accounts file has the columns: ")
    assert await nothing_stored(sessionmaker)


async def test_progress_every_n_rows(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ImportKind.CONTACTS)
    said: list[str] = []
    await run(sessionmaker, clock, ImportKind.BILLS, example(ImportKind.BILLS), progress=said.append, progress_every=2)
    assert said == [
        "[import] 2 of 6 rows read",
        "[import] 4 of 6 rows read",
        "[import] 6 of 6 rows read",
        "[import] checking 6 rows against the database",
        "[import] writing",
    ]
