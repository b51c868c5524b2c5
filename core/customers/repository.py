"""Identities (a Telegram chat, a web chat session) and the utility accounts they are bound to."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update

from core.db.repository import RepositoryBase
from core.models import (
    BindingAttempt,
    Customer,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    Tariff,
    UtilityAccount,
    VerificationCode,
)


class IdentityRepository(RepositoryBase[Identity]):
    model = Identity

    async def by_external_id(self, channel: str, external_id: str) -> Identity | None:
        return await self.session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )

    async def set_contacts_telegram_blocked(self, chat_id: int, at: datetime | None) -> None:
        """Key-account contacts reached in this Telegram chat: blocked the bot at `at`, or unblocked (None).
        Only the contacts whose state changes are written (a read first: most chats are no contact's)."""
        changing = (
            KeyAccountContact.telegram_blocked_at.is_(None)
            if at is not None
            else KeyAccountContact.telegram_blocked_at.is_not(None)
        )
        ids = list(
            await self.session.scalars(
                select(KeyAccountContact.id).where(KeyAccountContact.telegram_chat_id == chat_id, changing)
            )
        )
        if ids:
            await self.session.execute(
                update(KeyAccountContact).where(KeyAccountContact.id.in_(ids)).values(telegram_blocked_at=at)
            )


class AccountRepository(RepositoryBase[UtilityAccount]):
    model = UtilityAccount

    async def by_number(self, account_number: str) -> UtilityAccount | None:
        return await self.session.scalar(select(UtilityAccount).where(UtilityAccount.account_number == account_number))

    async def tariff_by_code(self, code: str) -> Tariff | None:
        """A published tariff by its code (the residential one is quoted before binding)."""
        return await self.session.scalar(select(Tariff).where(Tariff.code == code))

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
        return await self._failures(BindingAttempt.identity_id == identity_id, since)

    async def account_failures_since(self, account_number: str, since: datetime) -> list[datetime]:
        """Failed attempts on an account number from every identity (the index on (account_number, at))."""
        return await self._failures(BindingAttempt.account_number == account_number, since)

    async def client_failures_since(self, client: str, since: datetime) -> list[datetime]:
        """Failed attempts from a client address, on any account (the index on (client, at))."""
        return await self._failures(BindingAttempt.client == client, since)

    async def _failures(self, where: ColumnElement[bool], since: datetime) -> list[datetime]:
        rows = await self.session.scalars(
            select(BindingAttempt.at).where(where, BindingAttempt.succeeded.is_(False), BindingAttempt.at >= since)
        )
        return list(rows)

    async def serialize_attempt(self, identity_id: int, account_number: str, client: str | None) -> None:
        """Hold, until the transaction ends, what makes the check and the record of an attempt one step: two
        attempts on the same identity, account number or client address run one after the other, so each
        counts the other's failure. PostgreSQL: the identity row FOR UPDATE, then transaction-scoped advisory
        locks on the account number and the client address (always in this order, so no deadlock). SQLite:
        a write to the identity row takes the database's one write lock (pysqlite begins the transaction
        there, so what is read afterwards is what the previous attempt committed)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(select(Identity.id).where(Identity.id == identity_id).with_for_update())
            keys = [f"gridtalk:bind:account:{account_number}"]
            if client:
                keys.append(f"gridtalk:bind:client:{client}")
            for key in keys:
                await self.session.execute(select(func.pg_advisory_xact_lock(advisory_key(key))))
        else:
            await self.session.execute(
                update(Identity).where(Identity.id == identity_id).values(last_seen_at=Identity.last_seen_at)
            )

    def record_attempt(
        self, identity_id: int, account_number: str, succeeded: bool, at: datetime, client: str | None = None
    ) -> None:
        self.session.add(
            BindingAttempt(
                identity_id=identity_id, account_number=account_number, succeeded=succeeded, at=at, client=client
            )
        )


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock (the same in every process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class VerificationCodeRepository(RepositoryBase[VerificationCode]):
    model = VerificationCode

    async def latest(self, identity_id: int, purpose: str, now: datetime) -> VerificationCode | None:
        """The identity's newest unused, unexpired code for `purpose`, locked for the check (FOR UPDATE on
        PostgreSQL, so two parallel guesses on one code are counted one after the other)."""
        return await self.session.scalar(
            select(VerificationCode)
            .where(
                VerificationCode.identity_id == identity_id,
                VerificationCode.purpose == purpose,
                VerificationCode.used_at.is_(None),
                VerificationCode.expires_at > now,
            )
            .order_by(VerificationCode.id.desc())
            .limit(1)
            .with_for_update()
        )

    async def retire(self, identity_id: int, purpose: str, now: datetime) -> None:
        """Earlier codes of the identity for `purpose` stop working (a new one was sent)."""
        await self.session.execute(
            update(VerificationCode)
            .where(
                VerificationCode.identity_id == identity_id,
                VerificationCode.purpose == purpose,
                VerificationCode.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def sent_to_since(self, purpose: str, target: str, since: datetime) -> int:
        """How many codes for `purpose` went to `target` since `since`, from every identity."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(VerificationCode)
            .where(
                VerificationCode.purpose == purpose,
                VerificationCode.target == target,
                VerificationCode.created_at >= since,
            )
        )
        return int(count or 0)

    async def sent_since(self, identity_id: int, since: datetime) -> int:
        """How many codes the identity was sent since `since` (any purpose): sending is rate-limited."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(VerificationCode)
            .where(VerificationCode.identity_id == identity_id, VerificationCode.created_at >= since)
        )
        return int(count or 0)
