"""Staff sign-in for the API: username and password → a bearer token (a JWT signed with the secret key).

The token names the staff user and expires after `staff_token_minutes`; every request checks that the user
still exists and is active, so disabling a user takes effect at once. Roles are carried in the token for
clients to show, but the server always reads the role from the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import DomainError
from core.models import AuditLog, StaffUser
from core.security import hash_password, verify_password
from core.staff.repository import AuditRepository, StaffRepository

ALGORITHM = "HS256"
ISSUER = "gridtalk"
# Checked against when the username is unknown, so that a wrong username takes as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password")


def _signing_key(settings: Settings) -> bytes:
    """The HMAC key: derived from the secret key, so it is 32 bytes whatever the secret's length and is
    not the same bytes any other use of the secret signs with."""
    return hashlib.sha256(b"gridtalk staff token\0" + settings.secret_key.get_secret_value().encode()).digest()


class NotAuthenticated(DomainError):
    """No valid credentials: a wrong password, an unknown or inactive user, a bad or expired token."""

    code = "not_authenticated"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    staff: StaffUser


async def sign_in(session: AsyncSession, clock: Clock, settings: Settings, username: str, password: str) -> IssuedToken:
    """Check the password and issue a token (the sign-in is written to the audit log)."""
    user = await StaffRepository(session).by_username(username)
    if user is None:
        verify_password(password, _DUMMY_HASH)
        raise NotAuthenticated("incorrect username or password")
    if not verify_password(password, user.password_hash) or not user.is_active:
        raise NotAuthenticated("incorrect username or password")
    now = clock.now()
    expires_at = now + timedelta(minutes=settings.staff_token_minutes)
    token = jwt.encode(
        {"sub": str(user.id), "role": user.role, "iss": ISSUER, "iat": now, "exp": expires_at},
        _signing_key(settings),
        algorithm=ALGORITHM,
    )
    AuditRepository(session).add(
        AuditLog(at=now, staff_id=user.id, action="auth.token", target_type="staff_user", target_id=str(user.id))
    )
    return IssuedToken(token, expires_at, user)


async def staff_for_token(session: AsyncSession, clock: Clock, settings: Settings, token: str) -> StaffUser:
    """The active staff user a token was issued to; NotAuthenticated when it is not valid now."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # times are checked below against the injectable clock, not the machine's
            options={"require": ["sub", "exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("invalid token") from exc
    now = clock.now().timestamp()
    if now >= float(claims["exp"]):
        raise NotAuthenticated("the token has expired")
    if float(claims["iat"]) > now + 60:
        raise NotAuthenticated("invalid token")
    try:
        staff_id = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise NotAuthenticated("invalid token") from exc
    user = await StaffRepository(session).get(staff_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("the staff user is unknown or disabled")
    return user
