"""Identities and account binding: who is talking to us, and which utility accounts they have proved are theirs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.binding import BindingPolicy, LockedBy, failures_left, locked_until
from core.customers.repository import AccountRepository, BindingRepository, IdentityRepository
from core.errors import InvalidInput, NotFound
from core.models import Conversation, Identity, IdentityAccount, UtilityAccount
from core.models.enums import ChatChannel, Language, values

ACCOUNT_NUMBER = re.compile(r"^\d{10}$")
PHONE_LAST4 = re.compile(r"^\d{4}$")


def language_from_code(language_code: str | None) -> str:
    """Telegram's language_code → our language: English for en*, Chinese otherwise (the default)."""
    return "en" if (language_code or "").lower().startswith("en") else "zh"


class IdentityService:
    """Who is talking to us: a web chat session or a Telegram user. Built once; a session per call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def start_web_session(self, session: AsyncSession, language: str = "zh") -> Identity:
        """A new web chat session: an anonymous identity (nothing bound yet) with an open conversation."""
        if language not in values(Language):
            raise InvalidInput(f"language must be one of {', '.join(values(Language))}", field="language")
        now = self.clock.now()
        identity = Identity(
            channel=ChatChannel.WEB,
            external_id=uuid.uuid4().hex,
            language=Language(language),
            created_at=now,
            last_seen_at=now,
        )
        IdentityRepository(session).add(identity)
        await session.flush()
        session.add(Conversation(identity_id=identity.id, channel=ChatChannel.WEB, created_at=now, last_message_at=now))
        await session.flush()
        return identity

    async def web_identity(self, session: AsyncSession, session_id: str) -> Identity:
        """The identity of a web chat session; NotFound for a session that was never started."""
        identity = await IdentityRepository(session).by_external_id(ChatChannel.WEB, session_id)
        if identity is None:
            raise NotFound("no such chat session", field="session_id")
        return identity

    async def telegram_identity(
        self, session: AsyncSession, *, user_id: int, chat_id: int, language_code: str | None
    ) -> Identity:
        """The identity of a Telegram user, created on first contact (in the language their app uses)."""
        repo = IdentityRepository(session)
        identity = await repo.by_external_id(ChatChannel.TELEGRAM, str(user_id))
        if identity is None:
            identity = repo.add(
                Identity(
                    channel=ChatChannel.TELEGRAM,
                    external_id=str(user_id),
                    telegram_chat_id=chat_id,
                    language=Language(language_from_code(language_code)),
                    created_at=self.clock.now(),
                )
            )
            await session.flush()
        elif identity.telegram_chat_id != chat_id:
            identity.telegram_chat_id = chat_id
        return identity


def set_language(identity: Identity, language: str) -> None:
    if language not in values(Language):
        raise InvalidInput(f"language must be one of {', '.join(values(Language))}", field="language")
    identity.language = Language(language)


@dataclass(frozen=True, slots=True)
class BoundAccount:
    account: UtilityAccount
    current: bool
    verified_at: datetime


@dataclass(frozen=True, slots=True)
class BindLock:
    """Binding is refused until `until`, because of the identity's, the account number's or the address's
    failures (`by`). An account lock stops new identities only: those already bound keep the account."""

    until: datetime
    by: LockedBy


@dataclass(frozen=True, slots=True)
class BindOutcome:
    status: Literal["bound", "already_bound", "failed", "locked"]
    account: UtilityAccount | None = None
    locked_until: datetime | None = None
    failures_left: int = 0
    locked_by: LockedBy | None = None


# The client address of the attempt being made (the web chat's request address; None on Telegram). The web chat
# route sets it around the turn (`attempts_from`), the binding skill reads it (`current_client`) and hands it
# to AccountBinding explicitly; the dialogue layers in between need not carry it.
_CLIENT: ContextVar[str | None] = ContextVar("gridtalk_binding_client", default=None)


@contextmanager
def attempts_from(client: str | None) -> Iterator[None]:
    token = _CLIENT.set(client[:64] if client else None)
    try:
        yield
    finally:
        _CLIENT.reset(token)


def current_client() -> str | None:
    return _CLIENT.get()


class AccountBinding:
    """Binding with verification: the account number, then the last four digits of its registered phone.

    Every check is recorded (BindingAttempt, with the client address when there is one). An unknown account
    number fails exactly like a wrong phone, so nobody can find out which numbers exist. Failures lock binding
    per identity, per account number and per client address (BindingPolicy). The check and its record are
    serialized (BindingRepository.serialize_attempt), so parallel attempts cannot all slip under a limit.
    """

    def __init__(self, clock: Clock, policy: BindingPolicy) -> None:
        self.clock = clock
        self.policy = policy

    async def locked_until(self, session: AsyncSession, identity: Identity) -> datetime | None:
        """When the identity's own lock ends (None: not locked)."""
        now = self.clock.now()
        failures = await BindingRepository(session).failures_since(identity.id, now - self.policy.identity.lookback)
        return locked_until(failures, now, self.policy.identity)

    async def lock(
        self, session: AsyncSession, identity: Identity, account_number: str | None = None, client: str | None = None
    ) -> BindLock | None:
        """Whether a new binding is refused now: the account number's lock first (it tells the customer to
        verify another way), then the identity's and the address's (the later end)."""
        now = self.clock.now()
        repo = BindingRepository(session)
        if account_number is not None:
            limit = self.policy.account
            until = locked_until(await repo.account_failures_since(account_number, now - limit.lookback), now, limit)
            if until is not None:
                return BindLock(until, "account")
        found: BindLock | None = None
        until = await self.locked_until(session, identity)
        if until is not None:
            found = BindLock(until, "identity")
        if client:
            limit = self.policy.client
            until = locked_until(await repo.client_failures_since(client, now - limit.lookback), now, limit)
            if until is not None and (found is None or until > found.until):
                found = BindLock(until, "client")
        return found

    async def _left(self, session: AsyncSession, identity: Identity, account_number: str, client: str | None) -> int:
        now = self.clock.now()
        repo = BindingRepository(session)
        policy = self.policy
        left = failures_left(await repo.failures_since(identity.id, now - policy.window), now, policy.identity)
        account = await repo.account_failures_since(account_number, now - policy.account_window)
        left = min(left, failures_left(account, now, policy.account))
        if client:
            from_client = await repo.client_failures_since(client, now - policy.client_window)
            left = min(left, failures_left(from_client, now, policy.client))
        return left

    async def verify(
        self, session: AsyncSession, identity: Identity, account_number: str, last4: str, client: str | None = None
    ) -> BindOutcome:
        if not ACCOUNT_NUMBER.match(account_number):
            raise InvalidInput("an account number has 10 digits", field="account_number")
        if not PHONE_LAST4.match(last4):
            raise InvalidInput("the last four digits of the phone", field="phone_last4")
        bindings = BindingRepository(session)
        await bindings.serialize_attempt(identity.id, account_number, client)
        lock = await self.lock(session, identity, account_number, client)
        if lock is not None:
            return BindOutcome("locked", locked_until=lock.until, locked_by=lock.by)
        now = self.clock.now()
        account = await AccountRepository(session).by_number(account_number)
        ok = account is not None and account.phone[-4:] == last4
        bindings.record_attempt(identity.id, account_number, ok, now, client)
        await session.flush()
        if not ok or account is None:
            lock = await self.lock(session, identity, account_number, client)
            if lock is not None:
                return BindOutcome("locked", locked_until=lock.until, locked_by=lock.by)
            return BindOutcome("failed", failures_left=await self._left(session, identity, account_number, client))
        if await bindings.binding(identity.id, account.id) is None:
            bindings.add(IdentityAccount(identity_id=identity.id, account_id=account.id, verified_at=now))
            await session.flush()
        await bindings.make_current(identity.id, account.id)
        return BindOutcome("bound", account=account)

    async def already_bound(self, session: AsyncSession, identity: Identity, account_number: str) -> BindOutcome | None:
        """When this identity has bound the account before: make it the current one (no new check needed)."""
        for bound in await self.accounts(session, identity):
            if bound.account.account_number == account_number:
                await BindingRepository(session).make_current(identity.id, bound.account.id)
                return BindOutcome("already_bound", account=bound.account)
        return None

    async def accounts(self, session: AsyncSession, identity: Identity) -> list[BoundAccount]:
        rows = await BindingRepository(session).bound(identity.id)
        return [BoundAccount(account, binding.is_current, binding.verified_at) for binding, account in rows]

    async def current(self, session: AsyncSession, identity: Identity) -> UtilityAccount | None:
        """The account answers are about: the one marked current, else the first one bound."""
        accounts = await self.accounts(session, identity)
        chosen = next((b for b in accounts if b.current), accounts[0] if accounts else None)
        return chosen.account if chosen else None

    async def choose(self, session: AsyncSession, identity: Identity, account_id: int) -> UtilityAccount:
        account = await self._own(session, identity, account_id)
        await BindingRepository(session).make_current(identity.id, account_id)
        return account

    async def unbind(self, session: AsyncSession, identity: Identity, account_id: int) -> UtilityAccount:
        account = await self._own(session, identity, account_id)
        repo = BindingRepository(session)
        await repo.remove(identity.id, account_id)
        remaining = await repo.bound(identity.id)
        if remaining and not any(binding.is_current for binding, _ in remaining):
            await repo.make_current(identity.id, remaining[0][1].id)
        return account

    async def _own(self, session: AsyncSession, identity: Identity, account_id: int) -> UtilityAccount:
        for bound in await self.accounts(session, identity):
            if bound.account.id == account_id:
                return bound.account
        raise NotFound("that account is not bound to you", field="account")


class CustomerAccounts:
    """What other domains ask about a utility account (read-only). Built once; a session per call."""

    async def is_key_account(self, session: AsyncSession, account_id: int) -> bool:
        return await AccountRepository(session).is_key_account(account_id)
