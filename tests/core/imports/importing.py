"""Shared by the import tests: the example files of docs/import-examples (the README's worked example), the
service as a process builds it, one import in its own unit of work, and a snapshot of every table an import
writes (to show that a refused file or a dry run stored nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import session_scope
from core.imports import ImportKind, ImportReport
from core.imports.service import DataImports
from core.models import (
    Area,
    AuditLog,
    Base,
    Bill,
    BillLine,
    Customer,
    Feeder,
    KeyAccountContact,
    KeyAccountProfile,
    StaffUser,
    Tariff,
    UtilityAccount,
)
from core.staff.audit import AuditService
from tests.support.staff import make_staff

Maker = async_sessionmaker[AsyncSession]

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "import-examples"
TZ = ZoneInfo("Asia/Shanghai")
MANAGER = "manager.xu"  # the key account's manager in the examples
ORDER = (ImportKind.TOPOLOGY, ImportKind.TARIFFS, ImportKind.ACCOUNTS, ImportKind.CONTACTS, ImportKind.BILLS)
WRITTEN = (Area, Feeder, Tariff, Customer, UtilityAccount, KeyAccountProfile, KeyAccountContact, Bill, BillLine)


def example(kind: ImportKind) -> bytes:
    return (EXAMPLES / f"{kind}.csv").read_bytes()


def header(kind: ImportKind) -> str:
    return example(kind).decode().splitlines()[0]


def rows(kind: ImportKind, *lines: str, head: str | None = None) -> bytes:
    """A file of `kind`: the example's header (or `head`), then `lines`."""
    return "\n".join([head or header(kind), *lines]).encode() + b"\n"


def service(clock: Clock) -> DataImports:
    return DataImports(clock, AuditService(clock), TZ)


async def run(sessionmaker: Maker, clock: Clock, kind: ImportKind, data: bytes, **options: Any) -> ImportReport:
    """One import in its own unit of work, committed as the command line does."""
    async with session_scope(sessionmaker) as session:
        return await service(clock).run(session, kind, data, source=f"{kind}.csv", client="test", **options)


async def load_examples(sessionmaker: Maker, clock: Clock, upto: ImportKind = ImportKind.BILLS) -> None:
    """The example files imported in order, up to `upto` (the manager they name is made first)."""
    async with sessionmaker() as session:
        exists = await session.scalar(select(StaffUser.id).where(StaffUser.username == MANAGER))
    if exists is None:
        await make_staff(sessionmaker, clock, MANAGER, "account_manager")
    for kind in ORDER[: ORDER.index(upto) + 1]:
        report = await run(sessionmaker, clock, kind, example(kind))
        assert not report.refused, report.errors


async def snapshot(sessionmaker: Maker) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table an import writes, as tuples of its columns, sorted."""
    async with sessionmaker() as session:
        return {model.__tablename__: await _rows(session, model) for model in WRITTEN}


async def nothing_stored(sessionmaker: Maker) -> bool:
    """Whether every table an import writes is empty."""
    return not any((await snapshot(sessionmaker)).values())


async def _rows(session: AsyncSession, model: type[Base]) -> list[tuple[Any, ...]]:
    columns = list(model.__table__.columns)
    found = await session.execute(select(*columns))
    return sorted((tuple(row) for row in found), key=repr)


async def audit_actions(sessionmaker: Maker) -> list[AuditLog]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(select(AuditLog).where(AuditLog.action.like("import.%")).order_by(AuditLog.id))
        )


def where(report: ImportReport) -> list[tuple[int, str]]:
    """Each error's (line, column)."""
    return [(error.line, error.column) for error in report.errors]


def counts(report: ImportReport) -> dict[str, tuple[int, int, int]]:
    """(created, updated, unchanged) per record kind."""
    return {name: (t.created, t.updated, t.unchanged) for name, t in report.tallies.items()}
