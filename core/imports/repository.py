"""The SQL of the imports: looking up what a file names (in chunks, so a long file stays within the databases'
parameter limits) and writing a checked file. Inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from core.models import (
    Area,
    Base,
    Bill,
    BillLine,
    Feeder,
    KeyAccountContact,
    KeyAccountProfile,
    StaffUser,
    Tariff,
    UtilityAccount,
)

CHUNK = 1000  # values per IN (...) list
T = TypeVar("T")


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _each(self, query: Any, column: InstrumentedAttribute[Any], values: Collection[Any]) -> list[Any]:
        """The rows of `query` where `column` is one of `values`, a chunk of them per statement."""
        found: list[Any] = []
        for batch in chunks(sorted(set(values))):
            found.extend(await self.session.scalars(query.where(column.in_(batch))))
        return found

    # ------------------------------------------------------------------------------------- reads

    async def areas(self, codes: Collection[str]) -> dict[str, Area]:
        return {a.code: a for a in await self._each(select(Area), Area.code, codes)}

    async def feeders(self, codes: Collection[str]) -> dict[str, Feeder]:
        return {f.code: f for f in await self._each(select(Feeder), Feeder.code, codes)}

    async def feeders_with_accounts(self, codes: Collection[str]) -> set[str]:
        query = select(UtilityAccount.feeder_code).distinct()
        return set(await self._each(query, UtilityAccount.feeder_code, codes))

    async def tariffs(self, codes: Collection[str]) -> dict[str, Tariff]:
        return {t.code: t for t in await self._each(select(Tariff), Tariff.code, codes)}

    async def active_staff(self, usernames: Collection[str]) -> dict[str, int]:
        query = select(StaffUser).where(StaffUser.is_active.is_(True))
        return {s.username: s.id for s in await self._each(query, StaffUser.username, usernames)}

    async def accounts(self, numbers: Collection[str]) -> dict[str, UtilityAccount]:
        """Accounts by number, with their customers."""
        query = select(UtilityAccount).options(selectinload(UtilityAccount.customer))
        return {a.account_number: a for a in await self._each(query, UtilityAccount.account_number, numbers)}

    async def profiles(self, account_ids: Collection[int]) -> dict[int, KeyAccountProfile]:
        found = await self._each(select(KeyAccountProfile), KeyAccountProfile.account_id, account_ids)
        return {p.account_id: p for p in found}

    async def tariffs_by_id(self, ids: Collection[int]) -> dict[int, Tariff]:
        return {t.id: t for t in await self._each(select(Tariff), Tariff.id, ids)}

    async def contacts(self, account_ids: Collection[int]) -> dict[tuple[int, str], KeyAccountContact]:
        """The contacts of these accounts by (account id, name); the oldest one where a name is taken twice."""
        query = select(KeyAccountContact).order_by(KeyAccountContact.id.desc())
        found = await self._each(query, KeyAccountContact.account_id, account_ids)
        return {(c.account_id, c.name): c for c in found}

    async def bills(self, keys: Collection[tuple[int, str]]) -> dict[tuple[int, str], Bill]:
        """Bills by (account id, period), with their lines."""
        found: dict[tuple[int, str], Bill] = {}
        for batch in chunks(sorted(set(keys)), CHUNK // 2):
            rows = await self.session.scalars(
                select(Bill).where(tuple_(Bill.account_id, Bill.period).in_(batch)).options(selectinload(Bill.lines))
            )
            found.update({(b.account_id, b.period): b for b in rows})
        return found

    # ------------------------------------------------------------------------------------- writes

    async def add_all(self, objects: Sequence[Base]) -> None:
        self.session.add_all(objects)
        await self.session.flush()

    async def delete_all(self, objects: Sequence[Base]) -> None:
        for obj in objects:
            await self.session.delete(obj)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def insert_bills(
        self, rows: Sequence[Mapping[str, Any]], lines: Mapping[tuple[int, str], Sequence[Mapping[str, Any]]]
    ) -> None:
        """Bulk-insert new bills (one executemany per chunk, no row-by-row RETURNING) and their lines, given
        by (account id, period)."""
        for batch in chunks(rows):
            await self.session.execute(insert(Bill), batch)
            ids = await self.bill_ids([(row["account_id"], row["period"]) for row in batch])
            line_rows = [{**line, "bill_id": ids[key]} for key in ids for line in lines[key]]
            if line_rows:
                await self.session.execute(insert(BillLine), line_rows)

    async def bill_ids(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
        found = await self.session.execute(
            select(Bill.account_id, Bill.period, Bill.id).where(tuple_(Bill.account_id, Bill.period).in_(keys))
        )
        return {(account_id, period): ident for account_id, period, ident in found}
