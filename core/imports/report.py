"""What an import says back: the file's errors (line, column, message) or what it created, updated and left
unchanged, and, for bills, which bills it created or changed (for whatever follows a bills import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ImportKind(StrEnum):
    """The files `gridtalk import` loads, in the order a new database takes them."""

    TOPOLOGY = "topology"  # areas and their feeders
    TARIFFS = "tariffs"
    ACCOUNTS = "accounts"  # customers, their accounts, key-account profiles
    CONTACTS = "contacts"  # key-account contacts and account managers
    BILLS = "bills"


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of a file: its line (1 is the header), the column ("" for the whole row) and what is wrong,
    with phone and account numbers masked."""

    line: int
    column: str
    message: str


@dataclass(slots=True)
class Tally:
    """How many records of one kind an import created, updated and found already as the file has them."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, *, new: bool, changed: bool) -> None:
        if new:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


@dataclass(frozen=True, slots=True)
class BillRef:
    """A bill an import created or changed: what a follow-up (a statement to mail) acts on."""

    account_id: int
    account_number: str
    period: str  # YYYY-MM
    corrected: bool = False  # the bill was there before and its figures changed (not a new bill)


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    source: str  # the file's name
    rows: int = 0  # data rows read (blank lines left out)
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)  # per record kind: "accounts", "areas", ...
    changed_bills: tuple[BillRef, ...] = ()  # bills created or changed (would be, in a dry run)
    statements: int = 0  # bill statements queued for the changed bills' key-account contacts (a written import)

    @property
    def refused(self) -> bool:
        """The file had errors: nothing of it was stored."""
        return bool(self.errors)

    @property
    def written(self) -> bool:
        return not self.refused and not self.dry_run
