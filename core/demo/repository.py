"""The SQL of the demo loader, in one place. Works inside the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import (
    Area,
    Base,
    Bill,
    BillLine,
    Customer,
    Feeder,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    StaffUser,
    Tariff,
    UtilityAccount,
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    account_number: str
    phone: str
    segment: str
    area_code: str
    customer_name: str


@dataclass(frozen=True, slots=True)
class HistoryParty:
    """Someone of the demo who chats: a bound Telegram identity, with the account's segment and manager."""

    identity_id: int
    account_id: int
    segment: str
    manager_id: int | None
    language: str


@dataclass(frozen=True, slots=True)
class HistoryContact:
    """Someone of the demo who gets outage notices: a subscribed bound identity or a key account's contact."""

    contact_key: str
    identity_id: int | None
    key_contact_id: int | None
    account_id: int
    segment: str
    area_code: str
    telegram_chat_id: int | None
    email: str | None
    language: str


class DemoRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def customer_count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Customer)) or 0)

    async def delete_everything(self) -> None:
        """Delete every row of every table, children before parents."""
        for table in reversed(Base.metadata.sorted_tables):
            await self.session.execute(table.delete())
        self.session.expunge_all()  # whatever the session held is gone from the database

    async def staff_ids(self, usernames: Iterable[str]) -> dict[str, int]:
        rows = await self.session.execute(
            select(StaffUser.username, StaffUser.id).where(StaffUser.username.in_(list(usernames)))
        )
        return {username: ident for username, ident in rows}

    async def tariff_ids(self, codes: Iterable[str]) -> dict[str, int]:
        rows = await self.session.execute(select(Tariff.code, Tariff.id).where(Tariff.code.in_(list(codes))))
        return {code: ident for code, ident in rows}

    async def area_codes(self, codes: Iterable[str]) -> set[str]:
        return set(await self.session.scalars(select(Area.code).where(Area.code.in_(list(codes)))))

    async def feeder_codes(self, codes: Iterable[str]) -> set[str]:
        return set(await self.session.scalars(select(Feeder.code).where(Feeder.code.in_(list(codes)))))

    async def add_all(self, objects: Sequence[Base]) -> None:
        self.session.add_all(objects)
        await self.session.flush()

    async def insert_bills(self, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], int]:
        """Bulk-insert bills (one executemany, no RETURNING); their ids by (account_id, period)."""
        if not rows:
            return {}
        await self.session.execute(insert(Bill), list(rows))
        account_ids = sorted({row["account_id"] for row in rows})
        found = await self.session.execute(
            select(Bill.account_id, Bill.period, Bill.id).where(Bill.account_id.in_(account_ids))
        )
        return {(account_id, period): ident for account_id, period, ident in found}

    async def insert_bill_lines(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(BillLine), list(rows))

    async def accounts(self) -> list[AccountRow]:
        """Every utility account with its customer: key accounts first, then by account number."""
        key_first = case((Customer.segment == "key_account", 0), else_=1)
        rows = await self.session.execute(
            select(
                UtilityAccount.account_number,
                UtilityAccount.phone,
                Customer.segment,
                UtilityAccount.area_code,
                Customer.name,
            )
            .join(Customer, UtilityAccount.customer_id == Customer.id)
            .order_by(key_first, UtilityAccount.account_number)
        )
        return [AccountRow(*row) for row in rows]

    async def history_parties(self) -> list[HistoryParty]:
        """The bound Telegram identities with their account's segment and manager, by identity."""
        rows = await self.session.execute(
            select(
                Identity.id,
                UtilityAccount.id,
                Customer.segment,
                KeyAccountProfile.account_manager_id,
                Identity.language,
            )
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .where(Identity.channel == "telegram")
            .order_by(Identity.id)
        )
        return [HistoryParty(*row) for row in rows]

    async def history_contacts(self) -> list[HistoryContact]:
        """Who the notices of an outage over an area reach: subscribed bound identities and key-account contacts."""
        identities = await self.session.execute(
            select(
                Identity.id,
                UtilityAccount.id,
                Customer.segment,
                UtilityAccount.area_code,
                Identity.telegram_chat_id,
                Identity.email,
                Identity.language,
            )
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .where(Identity.subscribed_notices.is_(True))
            .order_by(Identity.id)
        )
        contacts = await self.session.execute(
            select(
                KeyAccountContact.id,
                UtilityAccount.id,
                UtilityAccount.area_code,
                KeyAccountContact.telegram_chat_id,
                KeyAccountContact.email,
                KeyAccountContact.language,
            )
            .join(UtilityAccount, UtilityAccount.id == KeyAccountContact.account_id)
            .order_by(KeyAccountContact.id)
        )
        return [
            HistoryContact(f"identity:{i}", i, None, account, segment, area, chat, email, language)
            for i, account, segment, area, chat, email, language in identities
        ] + [
            HistoryContact(f"contact:{c}", None, c, account, "key_account", area, chat, email, language)
            for c, account, area, chat, email, language in contacts
        ]

    async def contacts_on_telegram(self) -> list[tuple[int, int, str, datetime]]:
        """Key-account contacts on Telegram without an identity yet: (chat id, account id, language, since)."""
        known = select(Identity.telegram_chat_id).where(Identity.telegram_chat_id.is_not(None))
        rows = await self.session.execute(
            select(
                KeyAccountContact.telegram_chat_id,
                KeyAccountContact.account_id,
                KeyAccountContact.language,
                KeyAccountContact.created_at,
            )
            .where(KeyAccountContact.telegram_chat_id.is_not(None), KeyAccountContact.telegram_chat_id.not_in(known))
            .order_by(KeyAccountContact.id)
        )
        return [(chat, account, language, since) for chat, account, language, since in rows if chat is not None]
