"""Identities (a Telegram chat, a web chat session) and the utility accounts they are bound to."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, select, update

from core.conversations.memo import forget, memo_of
from core.db.repository import RepositoryBase
from core.models import (
    BindingAttempt,
    Conversation,
    Customer,
    Escalation,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    Tariff,
    UtilityAccount,
    VerificationCode,
)


@cache
def _turn_query() -> Select[Identity, Conversation, IdentityAccount, UtilityAccount, bool]:
    """IdentityRepository.for_turn's query, built once (every chat turn runs it; building it and its cache key
    afresh cost more CPU than running it): identity, latest conversation, bound accounts, ever escalated."""
    latest = (
        select(func.max(Conversation.id))
        .where(Conversation.identity_id == Identity.id)
        .correlate(Identity)
        .scalar_subquery()
    )
    escalated = (
        select(Escalation.id)
        .join(Conversation, Conversation.id == Escalation.conversation_id)
        .where(Conversation.identity_id == Identity.id, Escalation.identity_id == Identity.id)
        .correlate(Identity)
        .exists()
    )
    return (
        select(Identity, Conversation, IdentityAccount, UtilityAccount, escalated)
        .outerjoin(Conversation, Conversation.id == latest)
        .outerjoin(IdentityAccount, IdentityAccount.identity_id == Identity.id)
        .outerjoin(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
        .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
        .order_by(IdentityAccount.verified_at, UtilityAccount.account_number)
    )


class IdentityRepository(RepositoryBase[Identity]):
    model = Identity

    async def by_external_id(self, channel: str, external_id: str) -> Identity | None:
        return await self.session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )

    async def for_turn(
        self, channel: str, external_id: str
    ) -> tuple[Identity, Conversation | None, list[tuple[IdentityAccount, UtilityAccount]]] | None:
        """In one query, what every turn of an identity reads first: the identity, its latest conversation and
        the accounts bound to it (in BindingRepository.bound's order). None: no such identity. During a turn
        the bound accounts are kept in the turn's memo (core.conversations.memo), for BindingRepository.bound,
        and whether any conversation of the identity was ever escalated (ESCALATED: when not, the handoff skill
        has no escalation to look up)."""
        rows = (await self.session.execute(_turn_query(), {"channel": channel, "external_id": external_id})).all()
        if not rows:
            return None
        identity, conversation, ever_escalated = rows[0][0], rows[0][1], bool(rows[0][4])
        bound = [(row[2], row[3]) for row in rows if row[2] is not None and row[3] is not None]
        memo = memo_of(self.session)
        if memo is not None:
            memo[BOUND, identity.id] = bound
            memo[ESCALATED, identity.id] = ever_escalated
        return identity, conversation, bound

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


BOUND = "bound"  # the turn memo's kind for an identity's bound accounts
ESCALATED = "escalated"  # …and for whether a conversation of the identity was ever escalated


class BindingRepository(RepositoryBase[IdentityAccount]):
    """Bindings (identity ↔ account, written only after verification) and verification attempts.

    During a turn (core.conversations.memo) `bound` is read once per identity; every write of a binding here
    forgets it."""

    model = IdentityAccount

    def add(self, obj: IdentityAccount) -> IdentityAccount:
        forget(self.session, BOUND)
        return super().add(obj)

    async def bound(self, identity_id: int) -> list[tuple[IdentityAccount, UtilityAccount]]:
        memo = memo_of(self.session)
        if memo is not None and (BOUND, identity_id) in memo:
            return list(memo[BOUND, identity_id])
        found = await self._bound(identity_id)
        if memo is not None:
            memo[BOUND, identity_id] = found
        return list(found)

    async def _bound(self, identity_id: int) -> list[tuple[IdentityAccount, UtilityAccount]]:
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
        forget(self.session, BOUND)
        await self.session.execute(
            update(IdentityAccount)
            .where(IdentityAccount.identity_id == identity_id)
            .values(is_current=IdentityAccount.account_id == account_id)
        )

    async def remove(self, identity_id: int, account_id: int) -> None:
        forget(self.session, BOUND)
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
