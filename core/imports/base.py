"""What every kind of import file has in common: its columns, how one row becomes a typed row, what must be
unique in the file, and a plan (what would be created, updated, left alone) made before anything is written.

An importer reads rows without the database (`parse`), then `plan` resolves the codes they name and compares
them with what the database holds, adding an error for each row that cannot be stored. Only when the whole file
has no error does the service call the plan's `write`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from core.imports.reader import Cells, Column, Problems
from core.imports.report import BillRef, ImportKind, Tally
from core.imports.repository import ImportRepository

RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class Context:
    repo: ImportRepository
    problems: Problems
    now: datetime
    tz: ZoneInfo


class Plan(ABC):
    """What an import would do. Making it writes nothing; `write` does it (in the caller's transaction)."""

    def __init__(self, *names: str) -> None:
        self.tallies = {name: Tally() for name in names}
        self.updates: list[tuple[object, Mapping[str, Any]]] = []  # records to change, and how

    def compare(self, name: str, existing: object | None, values: Mapping[str, Any]) -> None:
        """Count one record of `name` (new, changed or not) and remember the change an existing one needs."""
        changed = existing is not None and differs(existing, values)
        self.tallies[name].count(new=existing is None, changed=changed)
        if changed:
            self.updates.append((existing, values))

    def apply_updates(self) -> None:
        for obj, values in self.updates:
            assign(obj, values)

    @property
    def changed_bills(self) -> tuple[BillRef, ...]:
        return ()

    @abstractmethod
    async def write(self, repo: ImportRepository) -> None: ...


class Importer(ABC, Generic[RowT]):
    kind: ClassVar[ImportKind]
    columns: ClassVar[tuple[Column, ...]]
    unique: ClassVar[tuple[tuple[str, ...], str]]  # the columns that may not repeat together, and what they name

    @abstractmethod
    def parse(self, cells: Cells, ctx: Context) -> RowT | None:
        """The row as a typed value; None when one of its cells is bad (the errors are in ctx.problems)."""

    @abstractmethod
    async def plan(self, ctx: Context, rows: Sequence[tuple[int, RowT]]) -> Plan:
        """Resolve and compare the rows (each with its line) with the database; each row that cannot be stored
        is an error in ctx.problems."""


def differs(obj: object, values: Mapping[str, Any]) -> bool:
    """Whether any of `values` is not what `obj` holds."""
    return any(getattr(obj, name) != value for name, value in values.items())


def assign(obj: object, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
