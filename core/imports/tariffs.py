"""The tariffs file: one row per tariff, upserted by code. A bill is priced by the tariff of its account when
it is imported; changing a tariff later changes no stored bill until its row is imported again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.imports import messages as M
from core.imports.base import Context, Importer, Plan
from core.imports.reader import Cells, Column
from core.imports.report import ImportKind
from core.imports.repository import ImportRepository
from core.models import Tariff

NAME = 100
MAX_KWH = Decimal("99999999999.9")  # Numeric(12, 1)
MAX_PRICE = Decimal("9999.9999")  # Numeric(8, 4)
LIMITS = ("tier1_limit_kwh", "tier2_limit_kwh")
PRICES = ("tier2_surcharge", "tier3_surcharge", "peak_price", "valley_price")
HOURS = ("peak_starts", "valley_starts")


@dataclass(frozen=True, slots=True)
class TariffRow:
    code: str
    values: dict[str, Any]


class TariffPlan(Plan):
    def __init__(self) -> None:
        super().__init__("tariffs")
        self.new: list[Tariff] = []

    async def write(self, repo: ImportRepository) -> None:
        self.apply_updates()
        await repo.add_all(self.new)


class TariffImporter(Importer[TariffRow]):
    kind = ImportKind.TARIFFS
    columns = (
        Column("code", required=True),
        Column("name", required=True),
        *(Column(name, required=True) for name in (*LIMITS, *PRICES, *HOURS)),
    )
    unique = (("code",), "tariff code")

    def parse(self, cells: Cells, ctx: Context) -> TariffRow | None:
        code = cells.code("code")
        values: dict[str, Any] = {"name": cells.text("name", NAME)}
        for name in LIMITS:
            values[name] = cells.decimal(name, places=1, limit=MAX_KWH, example="230")
        for name in PRICES:
            values[name] = cells.decimal(name, places=4, limit=MAX_PRICE, example="0.568")
        for name in HOURS:
            values[name] = cells.clock_time(name)
        if not cells.ok or code is None:
            return None
        if values["tier2_limit_kwh"] < values["tier1_limit_kwh"]:
            cells.error("tier2_limit_kwh", M.TIER_LIMITS.format(tier1=values["tier1_limit_kwh"]))
            return None
        return TariffRow(code, values)

    async def plan(self, ctx: Context, rows: Sequence[tuple[int, TariffRow]]) -> Plan:
        plan = TariffPlan()
        tariffs = await ctx.repo.tariffs({row.code for _, row in rows})
        for _, row in rows:
            tariff = tariffs.get(row.code)
            plan.compare("tariffs", tariff, row.values)
            if tariff is None:
                plan.new.append(Tariff(code=row.code, **row.values))
        return plan
