"""The contacts file: the people of a key account who are told of outages, one per row, upserted by account
number and name; and, optionally, the account's manager (a staff username; the same on every row of the
account). The account must already be a key account (the accounts file makes it one).

A contact needs a way to be reached: a phone, an email or a Telegram chat id. Contacts are told in the order
they were first loaded; a contact left out of a later file is kept (an import never deletes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.imports import messages as M
from core.imports.base import Context, Importer, Plan
from core.imports.reader import Cells, Column
from core.imports.report import ImportKind
from core.imports.repository import ImportRepository
from core.models import KeyAccountContact, KeyAccountProfile, UtilityAccount
from core.models.enums import Language

NAME = 100  # key_account_contacts.name, .title
TELEGRAM_ID = 10**15  # chat ids: users positive, groups negative
REACH = ("phone", "email", "telegram_chat_id")


@dataclass(frozen=True, slots=True)
class ContactRow:
    number: str
    name: str
    values: dict[str, Any]  # title, phone, email, telegram_chat_id, language
    manager: str | None


@dataclass(slots=True)
class _Found:
    accounts: dict[str, UtilityAccount]
    profiles: dict[int, KeyAccountProfile]
    contacts: dict[tuple[int, str], KeyAccountContact]
    staff: dict[str, int]


class ContactPlan(Plan):
    def __init__(self, now: datetime) -> None:
        super().__init__("contacts", "account managers")
        self.now = now
        self.new: list[KeyAccountContact] = []

    async def write(self, repo: ImportRepository) -> None:
        self.apply_updates()
        await repo.add_all(self.new)


class ContactImporter(Importer[ContactRow]):
    kind = ImportKind.CONTACTS
    columns = (
        Column("account_number", required=True),
        Column("name", required=True),
        Column("title"),
        Column("phone"),
        Column("email"),
        Column("telegram_chat_id"),
        Column("language"),
        Column("account_manager"),
    )
    unique = (("account_number", "name"), "contact of this account with this name")

    def parse(self, cells: Cells, ctx: Context) -> ContactRow | None:
        number, name = cells.account_number(), cells.text("name", NAME)
        values: dict[str, Any] = {}
        if cells.has("title"):
            values["title"] = cells.text("title", NAME) or ""
        if cells.has("phone"):
            values["phone"] = cells.phone()
        if cells.has("email"):
            values["email"] = cells.email()
        if cells.has("telegram_chat_id"):
            values["telegram_chat_id"] = cells.integer("telegram_chat_id", low=-TELEGRAM_ID, high=TELEGRAM_ID)
        if cells.has("language"):
            values["language"] = cells.choice("language", Language) or Language.ZH
        manager = cells.text("account_manager", 64) if cells.has("account_manager") else None
        if not cells.ok or number is None or name is None:
            return None
        return ContactRow(number, name, values, manager)

    async def plan(self, ctx: Context, rows: Sequence[tuple[int, ContactRow]]) -> Plan:
        plan = ContactPlan(ctx.now)
        found = await self._found(ctx, [row for _, row in rows])
        managers: dict[str, tuple[int, str]] = {}  # account number -> (first line, manager) of the file
        for line, row in rows:
            profile = self._profile(ctx, found, line, row)
            manager_id = self._manager(ctx, found, managers, line, row)
            if profile is None:
                continue
            if manager_id is not None:
                plan.compare("account managers", profile, {"account_manager_id": manager_id})
            self._contact(ctx, plan, found.contacts.get((profile.account_id, row.name)), profile.account_id, line, row)
        return plan

    @staticmethod
    def _profile(ctx: Context, found: _Found, line: int, row: ContactRow) -> KeyAccountProfile | None:
        """The key-account profile of the row's account; an error when there is none."""
        account = found.accounts.get(row.number)
        if account is None:
            ctx.problems.add(line, "account_number", M.ACCOUNT_NOT_IN_DATABASE.format(number=row.number))
            return None
        profile = found.profiles.get(account.id)
        if profile is None:
            ctx.problems.add(line, "account_number", M.NOT_KEY_ACCOUNT.format(number=row.number))
        return profile

    @staticmethod
    async def _found(ctx: Context, rows: list[ContactRow]) -> _Found:
        accounts = await ctx.repo.accounts({row.number for row in rows})
        ids = {account.id for account in accounts.values()}
        return _Found(
            accounts=accounts,
            profiles=await ctx.repo.profiles(ids),
            contacts=await ctx.repo.contacts(ids),
            staff=await ctx.repo.active_staff({row.manager for row in rows if row.manager is not None}),
        )

    @staticmethod
    def _manager(
        ctx: Context, found: _Found, managers: dict[str, tuple[int, str]], line: int, row: ContactRow
    ) -> int | None:
        """The staff id of the manager the row names, on the first row of its account that names one (so each
        account is counted once); an error when it is no staff user or not the one an earlier row named."""
        if row.manager is None:
            return None
        first_line, first = managers.setdefault(row.number, (line, row.manager))
        if first != row.manager:
            ctx.problems.add(line, "account_manager", M.MANAGER_DIFFERS.format(number=row.number, first=first_line))
            return None
        if first_line != line:
            return None
        manager_id = found.staff.get(row.manager)
        if manager_id is None:
            ctx.problems.add(line, "account_manager", M.STAFF_UNKNOWN.format(username=row.manager))
        return manager_id

    @staticmethod
    def _contact(
        ctx: Context,
        plan: ContactPlan,
        contact: KeyAccountContact | None,
        account_id: int,
        line: int,
        row: ContactRow,
    ) -> None:
        reach = {name: getattr(contact, name) if contact is not None else None for name in REACH}
        reach.update({name: value for name, value in row.values.items() if name in REACH})
        if not any(value is not None for value in reach.values()):
            ctx.problems.add(line, "phone", M.UNREACHABLE)
            return
        plan.compare("contacts", contact, row.values)
        if contact is None:
            plan.new.append(KeyAccountContact(account_id=account_id, name=row.name, created_at=plan.now, **row.values))
