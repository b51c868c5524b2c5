"""Reading an import file, without the database: encodings, the header check, line numbers, and each typed
cell reader with its errors (every one collected, phone and account numbers masked)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from core.imports.reader import Cells, Column, Problems, Record, Table, cells_of, read_table
from core.models.enums import Segment
from tests.core.imports.importing import TZ

COLUMNS = (Column("code", required=True), Column("name", required=True), Column("note"))
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def table(text: str | bytes, columns: tuple[Column, ...] = COLUMNS) -> tuple[Table | None, Problems]:
    problems = Problems()
    data = text.encode() if isinstance(text, str) else text
    return read_table(data, columns, "test", problems), problems


def where(problems: Problems) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in problems.errors]


def test_utf8_with_or_without_a_bom_reads_the_same() -> None:
    text = "code,name\nXH,西湖区\n"
    plain, _ = table(text)
    with_bom, problems = table(b"\xef\xbb\xbf" + text.encode())
    assert not problems and plain is not None and with_bom is not None
    assert with_bom.records == plain.records == [Record(2, {"code": "XH", "name": "西湖区"})]
    assert with_bom.columns == frozenset({"code", "name"})


def test_a_file_in_another_encoding_is_refused_naming_the_line() -> None:
    found, problems = table("code,name\nXH,Xihu\nGS,拱墅区\n".encode("gbk"))
    assert found is None
    assert where(problems) == [(3, "")] and "UTF-8" in problems.errors[0].message


def test_every_header_problem_is_reported_on_line_1() -> None:
    found, problems = table("Code, NAME ,colour,,colour\nXH,西湖区,red,,red\n", (*COLUMNS, Column("kind", True)))
    assert found is None
    assert where(problems) == [(1, "colour"), (1, ""), (1, "colour"), (1, "kind")]
    unknown, unnamed, twice, missing = (e.message for e in problems.errors)
    assert "unknown column 'colour'" in unknown and "code, name, note, kind" in unknown
    assert unnamed == "column 4 of the header has no name"
    assert twice == "column 'colour' appears twice in the header"
    assert "missing column 'kind'" in missing


def test_names_are_trimmed_and_lower_cased_and_optional_columns_may_be_left_out() -> None:
    found, problems = table(" Code ,Name\nXH,西湖区\n")
    assert not problems and found is not None and found.columns == frozenset({"code", "name"})


def test_line_numbers_count_blank_lines_and_cells_spanning_lines() -> None:
    found, problems = table(
        'code,name,note\n\nXH,西湖区,"two\nlines"\n , , \nGS,拱墅区\nSC,上城区,,extra\nBJ,滨江区,\n'
    )
    assert found is not None
    assert [(r.line, r.cells["code"]) for r in found.records] == [(3, "XH"), (8, "BJ")]
    assert found.rows == 4  # blank lines are no rows
    assert where(problems) == [(6, ""), (7, "")]
    assert problems.errors[0].message == "2 cells on this line, the header has 3"


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "the file is empty"), (b"\n \n", "the file is empty"), (b"code,name\nX\x00,y\n", "NUL")],
)
def test_an_empty_file_or_a_nul_is_refused(data: bytes, message: str) -> None:
    found, problems = table(data)
    assert found is None and message in problems.errors[0].message


def one_row(**cells: str) -> tuple[Cells, Problems]:
    columns = tuple(Column(name, required=name.startswith("req")) for name in cells)
    found, problems = table(",".join(cells) + "\n" + ",".join(f'"{v}"' for v in cells.values()) + "\n", columns)
    assert found is not None
    return next(cells_of(found, columns, problems)), problems


def test_typed_readers_take_good_cells() -> None:
    cells, problems = one_row(
        code="XH-F01",
        account="3301234567",
        segment="Key_Account",
        kwh="312.5",
        day="2026-11-15",
        month="2026-10",
        at="08:00",
        paid="2026-11-03 09:30",
        paid_date="2026-11-03",
        phone="+86 138-1234 5678",
        email="li.na@example.com",
        priority="3",
        empty="",
    )
    assert cells.code("code") == "XH-F01" and cells.account_number("account") == "3301234567"
    assert cells.choice("segment", Segment) is Segment.KEY_ACCOUNT
    assert cells.decimal("kwh", places=1, limit=Decimal(1000)) == Decimal("312.5")
    assert cells.date("day") == date(2026, 11, 15) and cells.month("month") == "2026-10"
    assert cells.clock_time("at") == time(8, 0)
    assert cells.moment("paid", TZ, NOW) == datetime(2026, 11, 3, 1, 30, tzinfo=UTC)
    assert cells.moment("paid_date", TZ, NOW) == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # local midnight
    assert cells.phone("phone") == "+8613812345678"
    assert cells.email("email") == "li.na@example.com"
    assert cells.integer("priority", low=1, high=9) == 3
    assert cells.text("empty", 10) is None and cells.has("empty") and not cells.has("elsewhere")
    assert cells.ok and not problems


def test_every_bad_cell_of_a_row_is_an_error_of_its_column() -> None:
    cells, problems = one_row(
        req_name="",
        code="XH F01",
        account="330123456",
        segment="household",
        kwh="12.34",
        negative="-1",
        large="1001",
        words="twelve",
        day="2026-02-30",
        month="2026-13",
        at="24:00",
        paid="2026-11-24",
        phone="138-1234-567x",
        email="li.na@",
        priority="10",
        long="abcdefghijk",
    )
    cells.text("req_name", 10)
    cells.code("code")
    cells.account_number("account")
    cells.choice("segment", Segment)
    for column in ("kwh", "negative", "large", "words"):
        assert cells.decimal(column, places=1, limit=Decimal(1000)) is None
    cells.date("day")
    cells.month("month")
    cells.clock_time("at")
    cells.moment("paid", TZ, NOW)
    cells.phone("phone")
    cells.email("email")
    cells.integer("priority", low=1, high=9)
    cells.text("long", 10)
    assert not cells.ok
    messages = {e.column: e.message for e in problems.errors}
    assert list(messages) == [
        "req_name", "code", "account", "segment", "kwh", "negative", "large", "words", "day", "month", "at", "paid",
        "phone", "email", "priority", "long",
    ]  # fmt: skip
    assert messages["req_name"] == "required: give a value"
    assert messages["segment"].startswith("'household' is not one of: residential, commercial")
    assert messages["kwh"] == "at most 1 decimal places"
    assert messages["negative"] == "must not be negative"
    assert messages["large"] == "too large: at most 1000"
    assert messages["paid"] == "lies in the future"
    assert messages["priority"] == "must be a whole number from 1 to 9"
    assert messages["long"] == "too long: at most 10 characters"
    assert all(e.line == 2 for e in problems.errors)


def test_messages_are_masked() -> None:
    problems = Problems()
    problems.add(2, "phone", "13812345678 and 3301234567 and 0571-88123456")
    assert problems.errors[0].message == "138******** and 33******67 and 057*********"
