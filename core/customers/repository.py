"""Identities (a Telegram chat, a web chat session) and the utility accounts they are bound to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from core.db.repository import RepositoryBase
from core.models import BindingAttempt, Customer, Identity, IdentityAccount, KeyAccountProfile, Tariff, UtilityAccount


class IdentityRepository(RepositoryBase[Identity]):
    model = Identity

    async def by_external_id(self, channel: str, external_id: str) -> Identity | None:
        return await self.session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )


class AccountRepository(RepositoryBase[UtilityAccount]):
    model = UtilityAccount

    async def by_number(self, account_number: str) -> UtilityAccount | None:
        return await self.session.scalar(select(UtilityAccount).where(UtilityAccount.account_number == account_number))

    async def tariff(self, account: UtilityAccount) -> Tariff:
        tariff = await self.session.get(Tariff, account.tariff_id)
        if tariff is None:  # a foreign key guarantees it
            raise LookupError(f"tariff {account.tariff_id} of account {account.id} is missing")
        return tariff

    async def customer(self, account: UtilityAccount) -> Customer:
        customer = await self.session.get(Customer, account.customer_id)
        if customer is None:
            raise LookupError(f"customer {account.customer_id} of account {account.id} is missing")
        return customer

    async def number_of(self, account_id: int) -> str | None:
        return await self.session.scalar(select(UtilityAccount.account_number).where(UtilityAccount.id == account_id))

    async def is_key_account(self, account_id: int) -> bool:
        return await self.session.get(KeyAccountProfile, account_id) is not None


class BindingRepository(RepositoryBase[IdentityAccount]):
    """Bindings (identity ↔ account, written only after verification) and verification attempts."""

    model = IdentityAccount

    async def bound(self, identity_id: int) -> list[tuple[IdentityAccount, UtilityAccount]]:
        rows = await self.session.execute(
            select(IdentityAccount, UtilityAccount)
            .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
            .where(IdentityAccount.identity_id == identity_id)
            .order_by(IdentityAccount.verified_at, UtilityAccount.account_number)
        )
        return [(binding, account) for binding, account in rows.all()]

    async def binding(self, identity_id: int, account_id: int) -> IdentityAccount | None:
        return await self.session.get(IdentityAccount, (identity_id, account_id))

    async def make_current(self, identity_id: int, account_id: int) -> None:
        await self.session.execute(
            update(IdentityAccount)
            .where(IdentityAccount.identity_id == identity_id)
            .values(is_current=IdentityAccount.account_id == account_id)
        )

    async def remove(self, identity_id: int, account_id: int) -> None:
        await self.session.execute(
            delete(IdentityAccount).where(
                IdentityAccount.identity_id == identity_id, IdentityAccount.account_id == account_id
            )
        )

    async def failures_since(self, identity_id: int, since: datetime) -> list[datetime]:
        rows = await self.session.scalars(
            select(BindingAttempt.at).where(
                BindingAttempt.identity_id == identity_id,
                BindingAttempt.succeeded.is_(False),
                BindingAttempt.at >= since,
            )
        )
        return list(rows)

    def record_attempt(self, identity_id: int, account_number: str, succeeded: bool, at: datetime) -> None:
        self.session.add(
            BindingAttempt(identity_id=identity_id, account_number=account_number, succeeded=succeeded, at=at)
        )
