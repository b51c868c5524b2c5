"""Account binding: a customer proves a utility account is theirs (the phone's last four digits, or a code sent
by SMS to the registered phone when a gateway is configured), under the anti-guessing limits of
core.customers.binding."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.binding import BindingPolicy, LockedBy, failures_left, locked_until
from core.customers.codes import TooManyCodes, VerificationCodes
from core.customers.repository import (
    AccountRepository,
    BindingRepository,
    VerificationCodeRepository,
)
from core.errors import InvalidInput, NotFound
from core.models import Identity, IdentityAccount, UtilityAccount
from core.models.enums import CodePurpose
from core.ports import SmsSender

ACCOUNT_NUMBER = re.compile(r"^\d{10}$")
PHONE_LAST4 = re.compile(r"^\d{4}$")
SMS_CODE = re.compile(r"^\d{6}$")


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
    """`expired`: binding by code, and no code is waiting to be typed (none sent, used up, or too old)."""

    status: Literal["bound", "already_bound", "failed", "locked", "expired"]
    account: UtilityAccount | None = None
    locked_until: datetime | None = None
    failures_left: int = 0
    locked_by: LockedBy | None = None


@dataclass(frozen=True, slots=True)
class BindingCode:
    """A binding code was issued (`sent`) or refused (`too_many`: the identity had its codes for the hour, or
    the account number as many codes within the account window as it may have failures there).

    `phone` is where the SMS goes: None for an account number we do not hold, where nothing is sent and the
    customer is told exactly what they would be told otherwise. `code` is in clear only to be sent.
    """

    status: Literal["sent", "too_many"]
    code: str = ""
    phone: str | None = None
    valid_minutes: int = 0


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
    """Binding with verification: the account number, then proof of holding its registered phone — the last
    four digits of the phone, or, when an SMS gateway is configured (`by_sms`), a one-time code sent to it.

    Every check is recorded (BindingAttempt, with the client address when there is one): a wrong code counts
    like a wrong phone. An unknown account number fails exactly like a wrong phone (by SMS: a code is "sent"
    as for any account, and no code typed can match), so nobody can find out which numbers exist. Failures
    lock binding per identity, per account number and per client address (BindingPolicy). The check and its
    record are serialized (BindingRepository.serialize_attempt), so parallel attempts cannot all slip under a
    limit.
    """

    def __init__(
        self,
        clock: Clock,
        policy: BindingPolicy,
        *,
        codes: VerificationCodes | None = None,
        sms: SmsSender | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.codes = codes
        self.sms = sms

    @property
    def by_sms(self) -> bool:
        """Binding verifies with a code sent by SMS (a gateway is configured) instead of the last 4 digits."""
        return self.codes is not None and self.sms is not None

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
        """Bind with the last four digits of the account's phone (only when binding is not by SMS)."""
        if not ACCOUNT_NUMBER.match(account_number):
            raise InvalidInput("an account number has 10 digits", field="account_number")
        if not PHONE_LAST4.match(last4):
            raise InvalidInput("the last four digits of the phone", field="phone_last4")
        if self.by_sms:
            raise InvalidInput("binding is verified by a code sent by SMS", field="phone_last4")

        async def matches(account: UtilityAccount | None) -> tuple[bool, int | None]:
            return account is not None and account.phone[-4:] == last4, None

        return await self._attempt(session, identity, account_number, client, matches)

    async def send_code(self, session: AsyncSession, identity: Identity, account_number: str) -> BindingCode:
        """Issue a binding code for the account number (earlier ones stop working). The caller sends it by SMS
        (`send_sms`) once the turn is committed; the caller has checked `lock` first."""
        if not ACCOUNT_NUMBER.match(account_number):
            raise InvalidInput("an account number has 10 digits", field="account_number")
        if self.codes is None or self.sms is None:
            raise InvalidInput("binding by SMS code is not configured", field="code")
        since = self.clock.now() - self.policy.account_window
        sent = await VerificationCodeRepository(session).sent_to_since(CodePurpose.BINDING, account_number, since)
        if sent >= self.policy.account_max_failures:  # however many chats ask, a phone gets only so many SMS
            return BindingCode("too_many")
        account = await AccountRepository(session).by_number(account_number)
        try:
            code = await self.codes.issue(session, identity, CodePurpose.BINDING, account_number)
        except TooManyCodes:
            return BindingCode("too_many")
        minutes = int(self.codes.ttl.total_seconds() // 60)
        return BindingCode("sent", code, account.phone if account is not None else None, minutes)

    async def send_sms(self, phone: str, text: str) -> None:
        """Send one binding-code SMS; only ever after the commit that recorded the code (never inside it)."""
        if self.sms is None:
            raise InvalidInput("binding by SMS code is not configured", field="code")
        await self.sms.send_text(phone, text)

    async def verify_code(
        self, session: AsyncSession, identity: Identity, account_number: str, typed: str, client: str | None = None
    ) -> BindOutcome:
        """Bind with the code the customer typed: a wrong code is a failed attempt under every limit; `expired`
        (not counted) when no code for this account number is waiting."""
        if not ACCOUNT_NUMBER.match(account_number):
            raise InvalidInput("an account number has 10 digits", field="account_number")
        if not SMS_CODE.match(typed):
            raise InvalidInput("a code has 6 digits", field="code")
        codes = self.codes
        if codes is None:
            raise InvalidInput("binding by SMS code is not configured", field="code")

        async def matches(account: UtilityAccount | None) -> tuple[bool, int | None] | None:
            if await codes.pending(session, identity, CodePurpose.BINDING) != account_number:
                return None  # no code to guess at: nothing is checked or counted
            check = await codes.check(session, identity, CodePurpose.BINDING, typed)
            ok = check.status == "ok" and check.target == account_number and account is not None
            return ok, (None if ok else check.attempts_left)

        return await self._attempt(session, identity, account_number, client, matches)

    async def _attempt(
        self,
        session: AsyncSession,
        identity: Identity,
        account_number: str,
        client: str | None,
        matches: Callable[[UtilityAccount | None], Awaitable[tuple[bool, int | None] | None]],
    ) -> BindOutcome:
        """One verification: serialized, refused while locked, recorded, and the binding made when it matches.
        `matches` says whether the proof is right and, for a code, how many tries the code has left (None: no
        code is waiting, `expired`)."""
        bindings = BindingRepository(session)
        await bindings.serialize_attempt(identity.id, account_number, client)
        lock = await self.lock(session, identity, account_number, client)
        if lock is not None:
            return BindOutcome("locked", locked_until=lock.until, locked_by=lock.by)
        now = self.clock.now()
        account = await AccountRepository(session).by_number(account_number)
        checked = await matches(account)
        if checked is None:
            return BindOutcome("expired")
        ok, code_left = checked
        bindings.record_attempt(identity.id, account_number, ok, now, client)
        await session.flush()
        if not ok or account is None:
            lock = await self.lock(session, identity, account_number, client)
            if lock is not None:
                return BindOutcome("locked", locked_until=lock.until, locked_by=lock.by)
            left = await self._left(session, identity, account_number, client)
            return BindOutcome("failed", failures_left=left if code_left is None else min(left, code_left))
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
