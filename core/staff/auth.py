"""Staff sign-in: a username and password become a bearer token for the API (a JWT signed with the secret key)
or a console session (a random token in an HttpOnly cookie; the server keeps its SHA-256 in staff_sessions,
with the session's CSRF token).

Every request checks that the user still exists and is active, so disabling a user takes effect at once (their
console sessions are deleted too). The role is carried in the token for clients to show, but the server always
reads it from the database.

Throttling: failed sign-ins are audit rows (`auth.login_failed`, the username as target, the address as
client). A username with `staff_login_max_failures` failures within `staff_login_window_minutes` (since its
last successful sign-in), or an address with `staff_login_max_failures_per_client`, is refused without
checking the password (`Throttled`, an `auth.login_throttled` row) until the oldest of them ages out. The
same rule holds for a username that does not exist, so the refusal tells nothing about which names exist.

Passwords are checked off the event loop (argon2 takes a good fraction of a second); a scrypt hash of an
earlier version that matches is replaced by an argon2 one.

Built once per process (StaffAuth(clock, settings, audit)); every call takes the caller's session and never
commits. A refused sign-in leaves its audit row in the session: the caller commits it before answering.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import DomainError
from core.models import StaffSession, StaffUser
from core.security import (
    hash_password_async,
    needs_rehash,
    token_digest,
    verify_password_async,
)
from core.staff.audit import AuditAction, AuditService
from core.staff.repository import AuditRepository, StaffRepository, StaffSessionRepository

ALGORITHM = "HS256"
ISSUER = "gridtalk"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
Via = Literal["api", "console"]


def _signing_key(settings: Settings) -> bytes:
    """The HMAC key: derived from the secret key, so it is 32 bytes whatever the secret's length and is
    not the same bytes any other use of the secret signs with."""
    return hashlib.sha256(b"gridtalk staff token\0" + settings.secret_key.get_secret_value().encode()).digest()


class NotAuthenticated(DomainError):
    """No valid credentials: a wrong password, an unknown or inactive user, a bad or expired token or session."""

    code = "not_authenticated"


class Throttled(DomainError):
    """Too many failed sign-ins for this username or from this address: try again after retry_after seconds."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    staff: StaffUser


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console session. token is the cookie's value: known only when the session was just opened."""

    id: int
    staff: StaffUser
    csrf_token: str
    expires_at: datetime
    client: str | None
    token: str | None = None


class StaffAuth:
    def __init__(self, clock: Clock, settings: Settings, audit: AuditService) -> None:
        self.clock = clock
        self.settings = settings
        self.audit = audit
        self._dummy_hash: str | None = None

    # ------------------------------------------------------------------------------------ sign-in

    async def authenticate(
        self, session: AsyncSession, username: str, password: str, *, client: str | None, via: Via
    ) -> StaffUser:
        """The active staff user with this username and password. NotAuthenticated (one message whatever
        was wrong) or Throttled otherwise, each with its audit row added to the session."""
        now = self.clock.now()
        user = await StaffRepository(session).by_username(username)
        await self._check_throttle(session, username, user, client, via, now)
        if user is None:
            await verify_password_async(password, await self._dummy())  # as slow as a wrong password
            raise self._failed(session, username, "unknown_user", client, via, now)
        if not await verify_password_async(password, user.password_hash):
            raise self._failed(session, username, "password", client, via, now)
        if not user.is_active:
            raise self._failed(session, username, "disabled", client, via, now)
        if needs_rehash(user.password_hash):
            user.password_hash = await hash_password_async(password)
        return user

    async def issue_token(
        self, session: AsyncSession, username: str, password: str, *, client: str | None = None
    ) -> IssuedToken:
        """Sign in for the API: a bearer token valid for staff_token_minutes (audited as auth.token)."""
        user = await self.authenticate(session, username, password, client=client, via="api")
        now = self.clock.now()
        expires_at = now + timedelta(minutes=self.settings.staff_token_minutes)
        token = jwt.encode(
            {"sub": str(user.id), "role": user.role, "iss": ISSUER, "iat": now, "exp": expires_at},
            _signing_key(self.settings),
            algorithm=ALGORITHM,
        )
        self.audit.record(session, user, AuditAction.AUTH_TOKEN, "staff_user", user.id, {"via": "api"}, client, at=now)
        return IssuedToken(token, expires_at, user)

    async def staff_for_token(self, session: AsyncSession, token: str) -> StaffUser:
        """The active staff user a bearer token was issued to; NotAuthenticated when it is not valid now."""
        try:
            claims = jwt.decode(
                token,
                _signing_key(self.settings),
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # times are checked below against the injectable clock, not the machine's
                options={"require": ["sub", "exp", "iat"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("invalid token") from exc
        now = self.clock.now().timestamp()
        try:
            expires, issued = float(claims["exp"]), float(claims["iat"])
            staff_id = int(claims["sub"])
        except (TypeError, ValueError) as exc:
            raise NotAuthenticated("invalid token") from exc
        if now >= expires:
            raise NotAuthenticated("the token has expired")
        if issued > now + 60:
            raise NotAuthenticated("invalid token")
        user = await StaffRepository(session).get(staff_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("the staff user is unknown or disabled")
        return user

    # ---------------------------------------------------------------------------- console sessions

    async def open_session(
        self, session: AsyncSession, username: str, password: str, *, client: str | None = None
    ) -> ConsoleSession:
        """Sign in to the console: a new session valid for staff_session_minutes (audited as auth.login)."""
        user = await self.authenticate(session, username, password, client=client, via="console")
        return await self.start_session(session, user, client=client)

    async def start_session(self, session: AsyncSession, user: StaffUser, *, client: str | None) -> ConsoleSession:
        """A new console session for a user already authenticated."""
        now = self.clock.now()
        repo = StaffSessionRepository(session)
        await repo.delete_expired(now)
        token = secrets.token_urlsafe(32)
        row = repo.add(
            StaffSession(
                token_hash=token_digest(token),
                staff_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(minutes=self.settings.staff_session_minutes),
                last_seen_at=now,
                client=client[:64] if client else None,
            )
        )
        await session.flush()
        self.audit.record(
            session, user, AuditAction.AUTH_LOGIN, "staff_user", user.id, {"via": "console"}, client, at=now
        )
        return ConsoleSession(row.id, user, row.csrf_token, row.expires_at, row.client, token)

    async def session_for(self, session: AsyncSession, token: str) -> ConsoleSession:
        """The console session of a cookie's token; NotAuthenticated when unknown, expired, or its user is
        disabled."""
        if not token:
            raise NotAuthenticated("not signed in")
        found = await StaffSessionRepository(session).by_token_hash(token_digest(token))
        if found is None:
            raise NotAuthenticated("not signed in")
        row, user = found
        now = self.clock.now()
        if now >= row.expires_at:
            raise NotAuthenticated("the session has expired")
        if not user.is_active:
            raise NotAuthenticated("the staff user is disabled")
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
        return ConsoleSession(row.id, user, row.csrf_token, row.expires_at, row.client)

    async def close_session(self, session: AsyncSession, token: str, *, client: str | None = None) -> bool:
        """Sign out: the session is deleted (audited as auth.logout). False when there was none."""
        row = await StaffSessionRepository(session).delete_by_token_hash(token_digest(token)) if token else None
        if row is None:
            return False
        self.audit.record(session, row.staff_id, AuditAction.AUTH_LOGOUT, "staff_user", row.staff_id, None, client)
        return True

    @staticmethod
    def csrf_matches(console: ConsoleSession, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(console.csrf_token.encode(), (given or "").encode())

    # ---------------------------------------------------------------------------------- throttling

    async def _check_throttle(
        self,
        session: AsyncSession,
        username: str,
        user: StaffUser | None,
        client: str | None,
        via: Via,
        now: datetime,
    ) -> None:
        window = timedelta(minutes=self.settings.staff_login_window_minutes)
        audit = AuditRepository(session)
        since = now - window
        if user is not None:  # a successful sign-in starts the username's count again
            last_success = await audit.last_at((AuditAction.AUTH_TOKEN, AuditAction.AUTH_LOGIN), user.id)
            if last_success is not None and last_success > since:
                since = last_success
        refusals: list[datetime] = []
        failures, oldest = await audit.count_since(
            AuditAction.AUTH_LOGIN_FAILED, since, target_type="username", target_id=username[:64]
        )
        if failures >= self.settings.staff_login_max_failures and oldest is not None:
            refusals.append(oldest)
        if client:
            failures, oldest = await audit.count_since(AuditAction.AUTH_LOGIN_FAILED, now - window, client=client[:64])
            if failures >= self.settings.staff_login_max_failures_per_client and oldest is not None:
                refusals.append(oldest)
        if not refusals:
            return
        retry_after = max(1, int((max(refusals) + window - now).total_seconds() + 0.999))
        self.audit.record(
            session,
            None,
            AuditAction.AUTH_LOGIN_THROTTLED,
            "username",
            username,
            {"via": via, "retry_after": retry_after},
            client,
            at=now,
        )
        raise Throttled("too many failed sign-ins: try again later", retry_after=retry_after)

    def _failed(
        self, session: AsyncSession, username: str, reason: str, client: str | None, via: Via, now: datetime
    ) -> NotAuthenticated:
        self.audit.record(
            session,
            None,
            AuditAction.AUTH_LOGIN_FAILED,
            "username",
            username,
            {"reason": reason, "via": via},
            client,
            at=now,
        )
        return NotAuthenticated("incorrect username or password")

    async def _dummy(self) -> str:
        """A hash checked when the username is unknown, so that a wrong username takes as long as a wrong
        password (made on first use, not at import)."""
        if self._dummy_hash is None:
            self._dummy_hash = await hash_password_async(secrets.token_urlsafe(16))
        return self._dummy_hash
