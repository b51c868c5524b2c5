"""The accounts file: one row per utility account, upserted by account number, with its customer (one customer
per account when created here) and, for a key account, its profile: the account manager (a staff user), the
priority (1 = most critical: told first) and a category.

Areas, feeders, tariffs and staff users must already be in the database (a file names them, it does not make
them): load the topology and tariffs files first. An account that stops being a key account loses its profile
(its contacts stay, but no notice goes to them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.imports import messages as M
from core.imports.base import Context, Importer, Plan, differs
from core.imports.reader import Cells, Column
from core.imports.report import ImportKind
from core.imports.repository import ImportRepository
from core.models import Customer, KeyAccountProfile, Tariff, UtilityAccount
from core.models.enums import Language, Segment

NAME = 200  # customers.name
ADDRESS = 300
CATEGORY = 40
KEY_COLUMNS = ("account_manager", "priority", "category")
PRIORITY_RANGE = (1, 9)


@dataclass(frozen=True, slots=True)
class KeyProfile:
    manager: str  # a staff username
    values: dict[str, Any]  # priority, category


@dataclass(frozen=True, slots=True)
class AccountRow:
    number: str
    customer: dict[str, Any]  # name, segment, language
    account: dict[str, Any]  # address, area_code, feeder_code, phone (tariff_id once resolved)
    tariff: str
    key: KeyProfile | None


@dataclass(slots=True)
class _Found:
    """What the database holds for the codes and numbers of a file."""

    accounts: dict[str, UtilityAccount]
    profiles: dict[int, KeyAccountProfile]
    tariffs: dict[str, Tariff]
    areas: set[str]
    feeders: dict[str, str]  # code -> its area
    staff: dict[str, int]


@dataclass(slots=True)
class _New:
    row: AccountRow
    tariff_id: int
    manager_id: int | None


class AccountPlan(Plan):
    def __init__(self, now: datetime) -> None:
        super().__init__("accounts")
        self.now = now
        self.new: list[_New] = []
        self.new_profiles: list[KeyAccountProfile] = []
        self.dropped_profiles: list[KeyAccountProfile] = []

    async def write(self, repo: ImportRepository) -> None:
        self.apply_updates()
        await repo.delete_all(self.dropped_profiles)
        made = [(new, self._account(new)) for new in self.new]
        await repo.add_all([obj for _, account in made for obj in (account.customer, account)])
        await repo.add_all([*self.new_profiles, *self._profiles(made)])

    def _account(self, new: _New) -> UtilityAccount:
        customer = Customer(created_at=self.now, **{"language": Language.ZH, **new.row.customer})
        return UtilityAccount(
            account_number=new.row.number,
            customer=customer,
            tariff_id=new.tariff_id,
            created_at=self.now,
            **new.row.account,
        )

    @staticmethod
    def _profiles(made: list[tuple[_New, UtilityAccount]]) -> list[KeyAccountProfile]:
        return [
            KeyAccountProfile(account_id=account.id, account_manager_id=new.manager_id, **_profile_values(new.row))
            for new, account in made
            if new.row.key is not None and new.manager_id is not None
        ]


class AccountImporter(Importer[AccountRow]):
    kind = ImportKind.ACCOUNTS
    columns = (
        Column("account_number", required=True),
        Column("customer_name", required=True),
        Column("segment", required=True),
        Column("language"),
        Column("address", required=True),
        Column("area_code", required=True),
        Column("feeder_code", required=True),
        Column("phone", required=True),
        Column("tariff_code", required=True),
        *(Column(name) for name in KEY_COLUMNS),
    )
    unique = (("account_number",), "account number")

    def parse(self, cells: Cells, ctx: Context) -> AccountRow | None:
        number = cells.account_number()
        segment = cells.choice("segment", Segment)
        customer: dict[str, Any] = {"name": cells.text("customer_name", NAME), "segment": segment}
        if cells.has("language"):
            customer["language"] = cells.choice("language", Language) or Language.ZH
        account = {
            "address": cells.text("address", ADDRESS),
            "area_code": cells.code("area_code"),
            "feeder_code": cells.code("feeder_code"),
            "phone": cells.phone(),
        }
        tariff = cells.code("tariff_code")
        key = self._key_profile(cells, segment)
        if not cells.ok or number is None or tariff is None:
            return None
        return AccountRow(number, customer, account, tariff, key)

    @staticmethod
    def _key_profile(cells: Cells, segment: Segment | None) -> KeyProfile | None:
        manager = cells.text("account_manager", 64) if cells.has("account_manager") else None
        low, high = PRIORITY_RANGE
        priority = cells.integer("priority", low=low, high=high) if cells.has("priority") else None
        category = cells.text("category", CATEGORY) if cells.has("category") else None
        if segment is not Segment.KEY_ACCOUNT:
            for column, value in zip(KEY_COLUMNS, (manager, priority, category), strict=True):
                if value is not None:
                    cells.error(column, M.KEY_ONLY.format(column=column))
            return None
        if manager is None:
            cells.error("account_manager", M.MANAGER_NEEDED)
            return None
        values: dict[str, Any] = {}
        if cells.has("priority"):
            values["priority"] = priority or low
        if cells.has("category"):
            values["category"] = category or ""
        return KeyProfile(manager, values)

    async def plan(self, ctx: Context, rows: Sequence[tuple[int, AccountRow]]) -> Plan:
        plan = AccountPlan(ctx.now)
        found = await self._found(ctx, [row for _, row in rows])
        for line, row in rows:
            tariff_id, manager_id = self._references(ctx, found, line, row)
            if tariff_id is None or (row.key is not None and manager_id is None):
                continue
            account = found.accounts.get(row.number)
            if account is None:
                plan.compare("accounts", None, {})
                plan.new.append(_New(row, tariff_id, manager_id))
                continue
            self._existing(plan, found, account, row, tariff_id, manager_id)
        return plan

    @staticmethod
    async def _found(ctx: Context, rows: list[AccountRow]) -> _Found:
        accounts = await ctx.repo.accounts({row.number for row in rows})
        feeders = await ctx.repo.feeders({row.account["feeder_code"] for row in rows})
        return _Found(
            accounts=accounts,
            profiles=await ctx.repo.profiles({account.id for account in accounts.values()}),
            tariffs=await ctx.repo.tariffs({row.tariff for row in rows}),
            areas=set(await ctx.repo.areas({row.account["area_code"] for row in rows})),
            feeders={code: feeder.area_code for code, feeder in feeders.items()},
            staff=await ctx.repo.active_staff({row.key.manager for row in rows if row.key is not None}),
        )

    @staticmethod
    def _references(ctx: Context, found: _Found, line: int, row: AccountRow) -> tuple[int | None, int | None]:
        """The tariff's and the manager's ids; an error for each code the database does not have."""
        area, feeder = row.account["area_code"], row.account["feeder_code"]
        if area not in found.areas:
            ctx.problems.add(line, "area_code", M.NOT_IN_DATABASE.format(what="area", code=area, kind="topology"))
        if feeder not in found.feeders:
            message = M.NOT_IN_DATABASE.format(what="feeder", code=feeder, kind="topology")
            ctx.problems.add(line, "feeder_code", message)
        elif area in found.areas and found.feeders[feeder] != area:
            message = M.FEEDER_ELSEWHERE.format(feeder=feeder, actual=found.feeders[feeder], given=area)
            ctx.problems.add(line, "feeder_code", message)
        tariff = found.tariffs.get(row.tariff)
        if tariff is None:
            message = M.NOT_IN_DATABASE.format(what="tariff", code=row.tariff, kind="tariffs")
            ctx.problems.add(line, "tariff_code", message)
        manager_id = found.staff.get(row.key.manager) if row.key is not None else None
        if row.key is not None and manager_id is None:
            ctx.problems.add(line, "account_manager", M.STAFF_UNKNOWN.format(username=row.key.manager))
        return (tariff.id if tariff is not None else None), manager_id

    @staticmethod
    def _existing(
        plan: AccountPlan,
        found: _Found,
        account: UtilityAccount,
        row: AccountRow,
        tariff_id: int,
        manager_id: int | None,
    ) -> None:
        """Compare an account already stored (its customer, its profile) with its row."""
        profile = found.profiles.get(account.id)
        wanted = {"account_manager_id": manager_id, **_profile_values(row)} if row.key is not None else None
        changes = [(account.customer, row.customer), (account, {**row.account, "tariff_id": tariff_id})]
        if profile is not None and wanted is not None:
            changes.append((profile, wanted))
        changes = [(obj, values) for obj, values in changes if differs(obj, values)]
        plan.updates.extend(changes)
        if profile is not None and wanted is None:
            plan.dropped_profiles.append(profile)
        elif profile is None and wanted is not None:
            plan.new_profiles.append(KeyAccountProfile(account_id=account.id, **wanted))
        changed = bool(changes) or (profile is None) != (wanted is None)
        plan.tallies["accounts"].count(new=False, changed=changed)


def _profile_values(row: AccountRow) -> dict[str, Any]:
    return dict(row.key.values) if row.key is not None else {}
