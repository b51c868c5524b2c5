"""One-time codes: six digits sent to an email address or a registered phone, typed back in the chat.

A code is stored as a keyed hash (HMAC with the secret key), is good for `ttl`, for `max_attempts` wrong
tries, and once; sending a new code retires the earlier ones, and an identity gets at most `max_sends` codes
an hour. What the code proves (an email address is the customer's, the customer holds an account's phone)
is the caller's business: `check` returns the target the code was sent to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.repository import VerificationCodeRepository
from core.models import Identity, VerificationCode
from core.models.enums import CodePurpose

CheckStatus = Literal["ok", "wrong", "none"]


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """`ok` with the target the code was sent to; `wrong` (tries left: `attempts_left`); `none`: no live code."""

    status: CheckStatus
    target: str | None = None
    attempts_left: int = 0


class TooManyCodes(Exception):
    """The identity was sent `max_sends` codes within the last hour."""


class VerificationCodes:
    def __init__(
        self,
        clock: Clock,
        secret: str,
        *,
        ttl: timedelta = timedelta(minutes=10),
        max_attempts: int = 5,
        max_sends: int = 5,
    ) -> None:
        self.clock = clock
        self.secret = secret.encode()
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.max_sends = max_sends

    def digest(self, code: str) -> str:
        return hmac.new(self.secret, code.encode(), hashlib.sha256).hexdigest()

    async def issue(self, session: AsyncSession, identity: Identity, purpose: CodePurpose, target: str) -> str:
        """A new code for `target` (returned in clear, to be sent, never stored); TooManyCodes past the limit."""
        now = self.clock.now()
        repo = VerificationCodeRepository(session)
        if await repo.sent_since(identity.id, now - timedelta(hours=1)) >= self.max_sends:
            raise TooManyCodes(f"identity {identity.id} was sent {self.max_sends} codes within the hour")
        await repo.retire(identity.id, purpose, now)
        code = f"{secrets.randbelow(10**6):06d}"
        repo.add(
            VerificationCode(
                identity_id=identity.id,
                purpose=purpose,
                target=target,
                code_hash=self.digest(code),
                expires_at=now + self.ttl,
                attempts=0,
                created_at=now,
            )
        )
        await session.flush()
        return code

    async def pending(self, session: AsyncSession, identity: Identity, purpose: CodePurpose) -> str | None:
        """The target of the identity's live code for `purpose`, if one is waiting to be typed."""
        code = await VerificationCodeRepository(session).latest(identity.id, purpose, self.clock.now())
        return code.target if code is not None else None

    async def check(self, session: AsyncSession, identity: Identity, purpose: CodePurpose, typed: str) -> CodeCheck:
        """Compare what the customer typed with their live code; a right code is used up, a wrong one counted."""
        now = self.clock.now()
        code = await VerificationCodeRepository(session).latest(identity.id, purpose, now)
        if code is None:
            return CodeCheck("none")
        if hmac.compare_digest(code.code_hash, self.digest(typed.strip())):
            code.used_at = now
            return CodeCheck("ok", code.target)
        code.attempts += 1
        left = self.max_attempts - code.attempts
        if left <= 0:
            code.used_at = now  # spent: a new code must be asked for
        return CodeCheck("wrong", code.target, max(left, 0))
