"""The topology file: one row per feeder, with the area it belongs to (an area's names repeated on each of its
feeders' rows, the same on every one). Areas and feeders are upserted by code. A feeder that already has
accounts cannot move to another area (its accounts name the area too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.imports import messages as M
from core.imports.base import Context, Importer, Plan
from core.imports.reader import Cells, Column
from core.imports.report import ImportKind
from core.imports.repository import ImportRepository
from core.models import Area, Feeder

NAME = 100  # areas.name, areas.name_en, feeders.name
LINES = 200  # feeders.lines


@dataclass(frozen=True, slots=True)
class TopologyRow:
    area_code: str
    area: dict[str, Any]  # name, name_en
    feeder_code: str
    feeder: dict[str, Any]  # area_code, name, lines


class TopologyPlan(Plan):
    def __init__(self) -> None:
        super().__init__("areas", "feeders")
        self.new_areas: list[Area] = []
        self.new_feeders: list[Feeder] = []

    async def write(self, repo: ImportRepository) -> None:
        self.apply_updates()
        await repo.add_all(self.new_areas)  # before the feeders that name them
        await repo.add_all(self.new_feeders)


class TopologyImporter(Importer[TopologyRow]):
    kind = ImportKind.TOPOLOGY
    columns = (
        Column("area_code", required=True),
        Column("area_name", required=True),
        Column("area_name_en"),
        Column("feeder_code", required=True),
        Column("feeder_name", required=True),
        Column("feeder_lines"),
    )
    unique = (("feeder_code",), "feeder")

    def parse(self, cells: Cells, ctx: Context) -> TopologyRow | None:
        area_code, feeder_code = cells.code("area_code"), cells.code("feeder_code")
        area: dict[str, Any] = {"name": cells.text("area_name", NAME)}
        if cells.has("area_name_en"):
            area["name_en"] = cells.text("area_name_en", NAME) or ""
        feeder: dict[str, Any] = {"area_code": area_code, "name": cells.text("feeder_name", NAME)}
        if cells.has("feeder_lines"):
            feeder["lines"] = cells.text("feeder_lines", LINES) or ""
        if not cells.ok or area_code is None or feeder_code is None:
            return None
        return TopologyRow(area_code, area, feeder_code, feeder)

    async def plan(self, ctx: Context, rows: Sequence[tuple[int, TopologyRow]]) -> Plan:
        plan = TopologyPlan()
        areas = await ctx.repo.areas({row.area_code for _, row in rows})
        feeders = await ctx.repo.feeders({row.feeder_code for _, row in rows})
        moving = {row.feeder_code for _, row in rows if _moves(feeders.get(row.feeder_code), row)}
        settled = await ctx.repo.feeders_with_accounts(moving) if moving else set()
        described: dict[str, tuple[int, dict[str, Any]]] = {}
        for line, row in rows:
            first = described.setdefault(row.area_code, (line, row.area))
            if first[1] != row.area:
                ctx.problems.add(line, "area_name", M.AREA_DIFFERS.format(area=row.area_code, first=first[0]))
            elif first[0] == line:
                self._area(plan, areas.get(row.area_code), row)
            feeder = feeders.get(row.feeder_code)
            if feeder is not None and row.feeder_code in settled:
                message = M.FEEDER_MOVE.format(feeder=row.feeder_code, actual=feeder.area_code, given=row.area_code)
                ctx.problems.add(line, "area_code", message)
            else:
                self._feeder(plan, feeder, row)
        return plan

    @staticmethod
    def _area(plan: TopologyPlan, area: Area | None, row: TopologyRow) -> None:
        plan.compare("areas", area, row.area)
        if area is None:
            plan.new_areas.append(Area(code=row.area_code, **{"name_en": "", **row.area}))

    @staticmethod
    def _feeder(plan: TopologyPlan, feeder: Feeder | None, row: TopologyRow) -> None:
        plan.compare("feeders", feeder, row.feeder)
        if feeder is None:
            plan.new_feeders.append(Feeder(code=row.feeder_code, **{"lines": "", **row.feeder}))


def _moves(feeder: Feeder | None, row: TopologyRow) -> bool:
    return feeder is not None and feeder.area_code != row.area_code
