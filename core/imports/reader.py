"""Reading an import file: CSV in UTF-8 (with or without the BOM Excel writes), a header naming the columns, then
one record per row; each cell read into a typed value or an error naming its line and column.

Every error of the file is collected (Problems), not just the first: a file is checked whole, and stored only
when it has none. Blank lines are skipped; cells are trimmed.

The rule for optional columns, the same in every file: a column left out of the header leaves that field as
the database has it (a new record gets the default); a column in the header is written, an empty cell clearing
the field (or setting its default).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from core.imports import messages as M
from core.imports.report import RowError
from core.security import mask_digits

E = TypeVar("E", bound=StrEnum)

HEADER_LINE = 1
CODE_LENGTH = 20  # areas.code, feeders.code, tariffs.code
_CODE = re.compile(r"[A-Za-z0-9._-]+")
_ACCOUNT_NUMBER = re.compile(r"\d{10}")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE = re.compile(r"\+?\d{5,19}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")
_INTEGER = re.compile(r"-?\d{1,18}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_FIRST_YEAR, _LAST_YEAR = 2000, 2100  # dates outside are typing mistakes


@dataclass(frozen=True, slots=True)
class Column:
    """A column of an import file. A required one must be in the header and have a value on every row."""

    name: str
    required: bool = False


class Problems:
    """Every error of a file, in the order found; messages are masked (phone and account numbers) here."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def add(self, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(line, column, mask_digits(message)))

    def __len__(self) -> int:
        return len(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # where the row starts in the file (a quoted cell may span lines)
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class Table:
    """A file whose header is right: the columns it has, and its rows."""

    columns: frozenset[str]
    records: list[Record]  # the rows that have as many cells as the header
    rows: int  # every row but blank ones


def read_table(data: bytes, columns: Sequence[Column], kind: str, problems: Problems) -> Table | None:
    """The file's rows by column name, or None (with the reasons in `problems`) when it cannot be read or its
    header is wrong. Row-level troubles (a row with too many or too few cells) are added to `problems`."""
    text = _decode(data, problems)
    if text is None:
        return None
    rows = _rows(text, problems)
    first = next(rows, None)
    if first is None:
        if not problems:
            problems.add(HEADER_LINE, "", M.EMPTY)
        return None
    header = _header(first[1], columns, kind, problems)
    if header is None:
        return None
    records: list[Record] = []
    count = 0
    for line, cells in rows:
        count += 1
        if len(cells) != len(header):
            problems.add(line, "", M.CELL_COUNT.format(cells=len(cells), columns=len(header)))
            continue
        records.append(Record(line, {name: value.strip() for name, value in zip(header, cells, strict=True)}))
    return Table(frozenset(header), records, count)


def _decode(data: bytes, problems: Problems) -> str | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(data[: exc.start].count(b"\n") + 1, "", M.NOT_UTF8)
        return None
    if "\x00" in text:
        problems.add(text[: text.index("\x00")].count("\n") + 1, "", M.NUL)
        return None
    return text


def _rows(text: str, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of every row that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(start, "", M.BAD_CSV.format(reason=exc))
            return
        line, start = start, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield line, cells


def _header(cells: list[str], columns: Sequence[Column], kind: str, problems: Problems) -> list[str] | None:
    """The header's column names (trimmed, lower case), or None when it names a column twice, one unknown or
    not at all, or misses a required one: each is an error of line 1."""
    known = {column.name for column in columns}
    names = [cell.strip().lower() for cell in cells]
    before = len(problems)
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            problems.add(HEADER_LINE, "", M.NO_NAME.format(position=position))
        elif name in seen:
            problems.add(HEADER_LINE, name, M.DUPLICATE_COLUMN.format(column=name))
        elif name not in known:
            listed = M.listing(column.name for column in columns)
            problems.add(HEADER_LINE, name, M.UNKNOWN_COLUMN.format(column=name, kind=kind, known=listed))
        seen.add(name)
    required = [column.name for column in columns if column.required]
    for name in required:
        if name not in seen:
            problems.add(
                HEADER_LINE, name, M.MISSING_COLUMN.format(column=name, kind=kind, required=M.listing(required))
            )
    return names if len(problems) == before else None


class Cells:
    """One row's cells, read into typed values. Each reader returns None for an empty (or absent) cell, and
    records an error (returning None) for a bad one; `ok` says whether the row has had none so far."""

    def __init__(self, record: Record, columns: Mapping[str, Column], present: frozenset[str], problems: Problems):
        self.line = record.line
        self._cells = record.cells
        self._columns = columns
        self._present = present
        self._problems = problems
        self._errors_before = len(problems)

    @property
    def ok(self) -> bool:
        return len(self._problems) == self._errors_before

    def values(self, columns: Sequence[str]) -> tuple[str, ...]:
        """The cells of these columns as written (trimmed)."""
        return tuple(self._cells.get(column, "") for column in columns)

    def has(self, column: str) -> bool:
        """Whether the file has this column (see the module's rule for optional columns)."""
        return column in self._present

    def error(self, column: str, message: str) -> None:
        self._problems.add(self.line, column, message)

    def _raw(self, column: str) -> str | None:
        value = self._cells.get(column, "")
        if value:
            return value
        if self._columns[column].required:
            self.error(column, M.REQUIRED)
        return None

    def text(self, column: str, limit: int) -> str | None:
        value = self._raw(column)
        if value is not None and len(value) > limit:
            self.error(column, M.TOO_LONG.format(limit=limit))
            return None
        return value

    def code(self, column: str, limit: int = CODE_LENGTH) -> str | None:
        value = self._raw(column)
        if value is not None and (len(value) > limit or not _CODE.fullmatch(value)):
            self.error(column, M.CODE.format(limit=limit))
            return None
        return value

    def account_number(self, column: str = "account_number") -> str | None:
        value = self._raw(column)
        if value is not None and not _ACCOUNT_NUMBER.fullmatch(value):
            self.error(column, M.ACCOUNT_NUMBER)
            return None
        return value

    def choice(self, column: str, enum: type[E]) -> E | None:
        value = self._raw(column)
        if value is None:
            return None
        try:
            return enum(value.lower())
        except ValueError:
            self.error(column, M.CHOICE.format(value=value, choices=M.listing(member.value for member in enum)))
            return None

    def decimal(self, column: str, *, places: int, limit: Decimal, example: str = "123.45") -> Decimal | None:
        """A number that is not negative, with at most `places` decimals (what the column stores: more would be
        rounded, and a second import would see a change), at most `limit`."""
        value = self._raw(column)
        if value is None:
            return None
        if not _DECIMAL.fullmatch(value):
            self.error(column, M.NUMBER.format(example=example))
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
            self.error(column, M.NUMBER.format(example=example))
            return None
        problem = _decimal_problem(number, places, limit)
        if problem is not None:
            self.error(column, problem)
            return None
        return number

    def integer(self, column: str, *, low: int, high: int) -> int | None:
        value = self._raw(column)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            self.error(column, M.RANGE.format(low=low, high=high))
            return None
        return int(value)

    def phone(self, column: str = "phone") -> str | None:
        """A phone number without its separators (`138-1234-5678` -> `13812345678`): its last four digits are
        what a customer types to bind the account."""
        value = self._raw(column)
        if value is None:
            return None
        number = _PHONE_SEPARATORS.sub("", value)
        if not _PHONE.fullmatch(number):
            self.error(column, M.PHONE)
            return None
        return number

    def email(self, column: str = "email", limit: int = 255) -> str | None:
        value = self._raw(column)
        if value is not None and (len(value) > limit or not _EMAIL.fullmatch(value)):
            self.error(column, M.EMAIL)
            return None
        return value

    def date(self, column: str) -> date | None:
        value = self._raw(column)
        if value is None:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is None or len(value) != 10 or not _FIRST_YEAR <= day.year <= _LAST_YEAR:
            self.error(column, M.DATE)
            return None
        return day

    def month(self, column: str) -> str | None:
        """A month as YYYY-MM."""
        value = self._raw(column)
        if value is None:
            return None
        match = _MONTH.fullmatch(value)
        if match is None or not 1 <= int(match[2]) <= 12 or not _FIRST_YEAR <= int(match[1]) <= _LAST_YEAR:
            self.error(column, M.MONTH)
            return None
        return value

    def clock_time(self, column: str) -> time | None:
        value = self._raw(column)
        if value is None:
            return None
        match = _CLOCK.fullmatch(value)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            self.error(column, M.CLOCK_TIME)
            return None
        return time(int(match[1]), int(match[2]))

    def moment(self, column: str, tz: ZoneInfo, now: datetime) -> datetime | None:
        """A date (its midnight) or a date and time, in the utility's time zone unless it gives its offset; not
        after `now`."""
        value = self._raw(column)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or len(value) < 10 or not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
            self.error(column, M.MOMENT)
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        if moment > now:
            self.error(column, M.FUTURE)
            return None
        return moment


def _decimal_problem(number: Decimal, places: int, limit: Decimal) -> str | None:
    if number < 0:
        return M.NEGATIVE
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return M.TOO_MANY_PLACES.format(places=places)
    if number > limit:
        return M.TOO_LARGE.format(limit=limit)
    return None


def cells_of(table: Table, columns: Sequence[Column], problems: Problems) -> Iterator[Cells]:
    """The table's rows as Cells, one after the other (each row's errors go to `problems`)."""
    by_name = {column.name: column for column in columns}
    for record in table.records:
        yield Cells(record, by_name, table.columns, problems)
