"""Every message of the imports, in one place (English: `gridtalk import` is an operator's tool).

Messages name the line and column they are about elsewhere (core.imports.report.RowError); a value is quoted
only when it is not personal (codes, dates, figures). Whatever is quoted goes through core.security.mask_digits
anyway (core.imports.reader.Problems), so a phone or an account number never shows in full.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.imports.report import ImportReport, RowError

# ----------------------------------------------------------------------------------------- the file

NOT_UTF8 = "the file is not UTF-8 text; save it as CSV UTF-8 (Excel: Save As, 'CSV UTF-8 (comma delimited)')"
NUL = "the line holds a NUL character"
BAD_CSV = "not readable as CSV: {reason}"
EMPTY = "the file is empty: it needs a header line naming its columns"
NO_NAME = "column {position} of the header has no name"
DUPLICATE_COLUMN = "column {column!r} appears twice in the header"
UNKNOWN_COLUMN = "unknown column {column!r}; a {kind} file has the columns: {known}"
MISSING_COLUMN = "missing column {column!r}: a {kind} file needs {required}"
CELL_COUNT = "{cells} cells on this line, the header has {columns}"

# ----------------------------------------------------------------------------------------- one cell

REQUIRED = "required: give a value"
TOO_LONG = "too long: at most {limit} characters"
CODE = "not a code: letters, digits, '.', '_' or '-', at most {limit} characters"
ACCOUNT_NUMBER = "an account number has 10 digits"
CHOICE = "{value!r} is not one of: {choices}"
RANGE = "must be a whole number from {low} to {high}"
NUMBER = "not a number: write digits with a decimal point, e.g. {example}"
NEGATIVE = "must not be negative"
TOO_MANY_PLACES = "at most {places} decimal places"
TOO_LARGE = "too large: at most {limit}"
DATE = "not a date: write YYYY-MM-DD, e.g. 2026-11-15"
MONTH = "not a month: write YYYY-MM, e.g. 2026-10"
CLOCK_TIME = "not a time of day: write HH:MM, e.g. 08:00"
MOMENT = "not a date or time: write YYYY-MM-DD or YYYY-MM-DD HH:MM (local time), e.g. 2026-11-03 09:30"
FUTURE = "lies in the future"
PHONE = "not a phone number: digits, optionally a leading + and country code (spaces and dashes are ignored)"
EMAIL = "not an email address"

# ----------------------------------------------------------------------------------------- rows and references

DUPLICATE_ROW = "{what} already on line {first}: each may appear once in a file"
NOT_IN_DATABASE = "{what} {code!r} is not in the database: load it first with `gridtalk import {kind}`"
ACCOUNT_NOT_IN_DATABASE = "account {number} is not in the database: load it first with `gridtalk import accounts`"
FEEDER_ELSEWHERE = "feeder {feeder!r} belongs to area {actual!r}, not {given!r}"
FEEDER_MOVE = (
    "feeder {feeder!r} belongs to area {actual!r} and has accounts: moving it to {given!r} would leave them in "
    "the wrong area"
)
AREA_DIFFERS = "area {area!r} is described differently on line {first}: every row of an area must agree"
STAFF_UNKNOWN = "staff user {username!r} does not exist or is disabled: create it with `gridtalk staff create`"
MANAGER_NEEDED = "a key account needs its account manager (a staff username)"
KEY_ONLY = "only a key account (segment key_account) has {column}"
NOT_KEY_ACCOUNT = "account {number} is not a key account: import it with segment key_account first"
MANAGER_DIFFERS = "account {number} is given another account manager on line {first}"
UNREACHABLE = "a contact needs a phone, an email or a Telegram chat id"
TIER_LIMITS = "must not be below tier1_limit_kwh ({tier1})"
FUTURE_PERIOD = "period {period} has not begun yet"
DUE_BEFORE_PERIOD = "due date {due} lies before the period {period}"
KWH_PARTS = "give both kwh_peak and kwh_valley, or neither"
KWH_NONE = "give the usage: kwh, or kwh_peak and kwh_valley"
KWH_SUM = "kwh {kwh} is not kwh_peak + kwh_valley ({total})"
KWH_TIME_OF_USE = "tariff {tariff!r} prices peak and valley differently: give kwh_peak and kwh_valley"
AMOUNT_DIFFERS = "amount {given} differs from {computed} computed from tariff {tariff!r} ({detail})"

# ----------------------------------------------------------------------------------------- the command

PROGRESS_READ = "[import] {done} of {total} rows read"
PROGRESS_CHECK = "[import] checking {rows} rows against the database"
PROGRESS_WRITE = "[import] writing"
DATABASE_REFUSED = "the database refused the file, nothing of it was stored: {reason}"
ERRORS_CSV = "[import] the errors are in {path}"
MORE_ERRORS = "... and {more} more (--errors-csv PATH writes them all)"
ERRORS_HEADER = ("line", "column", "message")


STATEMENTS_QUEUED = (
    "  statements queued: {count} (to key-account contacts, by email; a corrected one where the figures of a"
    " statement already mailed changed)"
)


def report_lines(report: ImportReport) -> list[str]:
    """The outcome in a few lines: refused with how many errors, or what was (would be) created and updated."""
    name = f"{report.kind} file {report.source}" if report.source else f"{report.kind} file"
    if report.refused:
        return [f"{name} refused: {len(report.errors)} error(s) in {report.rows} rows; nothing was stored"]
    would = "would be " if report.dry_run else ""
    lines = [f"{name}: {report.rows} rows{' (dry run: nothing written)' if report.dry_run else ''}"]
    lines.extend(
        f"  {what}: {t.created} {would}created, {t.updated} {would}updated, {t.unchanged} unchanged"
        for what, t in report.tallies.items()
    )
    return lines


def error_line(error: RowError) -> str:
    where = f"line {error.line}, column {error.column}" if error.column else f"line {error.line}"
    return f"{where}: {error.message}"


def listing(values: Iterable[str]) -> str:
    return ", ".join(values)
