"""Staff users as admins manage them (the API, the console, `gridtalk staff ...`): create, disable, reset a
password, change a role. Every change is audited; disabling a user or resetting their password ends their
console sessions. The last active admin can be neither disabled nor demoted.

Built once per process (StaffService(clock, audit)); each call takes the caller's session and never commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound
from core.models import StaffUser
from core.models.enums import Role, values
from core.security import hash_password_async
from core.staff.audit import Actor, AuditAction, AuditService, actor_id
from core.staff.repository import StaffRepository, StaffSessionRepository

USERNAME = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work a request can ask for
MAX_DISPLAY_NAME = 100


@dataclass(frozen=True, slots=True)
class StaffPage:
    items: list[StaffUser]
    total: int


def _check_role(role: str) -> Role:
    if role not in values(Role):
        raise InvalidInput(f"role must be one of {', '.join(values(Role))}", field="role")
    return Role(role)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters", field="password")


class StaffService:
    def __init__(self, clock: Clock, audit: AuditService) -> None:
        self.clock = clock
        self.audit = audit

    async def create(
        self,
        session: AsyncSession,
        *,
        username: str,
        password: str,
        role: str,
        display_name: str = "",
        actor: Actor = None,
        client: str | None = None,
    ) -> StaffUser:
        """A new active staff user. InvalidInput naming the field, or Conflict for a taken username."""
        if not USERNAME.match(username):
            raise InvalidInput("username: 3–64 letters, digits, '.', '_' or '-'", field="username")
        checked_role = _check_role(role)
        _check_password(password)
        display_name = display_name.strip()
        if len(display_name) > MAX_DISPLAY_NAME:
            raise InvalidInput(f"display name: at most {MAX_DISPLAY_NAME} characters", field="display_name")
        repo = StaffRepository(session)
        if await repo.by_username(username) is not None:
            raise Conflict(f"a staff user named {username!r} already exists", field="username")
        now = self.clock.now()
        user = repo.add(
            StaffUser(
                username=username,
                password_hash=await hash_password_async(password),
                role=checked_role,
                display_name=display_name or username,
                created_at=now,
            )
        )
        await session.flush()
        detail = {"username": username, "role": checked_role.value}
        self.audit.record(session, actor, AuditAction.STAFF_CREATE, "staff_user", user.id, detail, client, at=now)
        return user

    async def get(self, session: AsyncSession, staff_id: int) -> StaffUser:
        user = await StaffRepository(session).get(staff_id)
        if user is None:
            raise NotFound(f"no staff user {staff_id}")
        return user

    async def by_username(self, session: AsyncSession, username: str) -> StaffUser:
        user = await StaffRepository(session).by_username(username)
        if user is None:
            raise NotFound(f"no staff user named {username!r}", field="username")
        return user

    async def list(self, session: AsyncSession, *, limit: int = 100, offset: int = 0) -> StaffPage:
        items, total = await StaffRepository(session).page(limit=limit, offset=offset)
        return StaffPage(items, total)

    async def disable(
        self, session: AsyncSession, staff_id: int, *, actor: Actor = None, client: str | None = None
    ) -> StaffUser:
        """The user can no longer sign in; their tokens and console sessions stop working at once."""
        user = await self.get(session, staff_id)
        if not user.is_active:
            raise Conflict(f"staff user {user.username!r} is already disabled")
        if actor_id(actor) == user.id:
            raise Conflict("you cannot disable yourself")
        await self._keep_an_admin(session, user)
        user.is_active = False
        ended = await StaffSessionRepository(session).delete_of_staff(user.id)
        detail = {"username": user.username, "sessions_ended": ended}
        self.audit.record(session, actor, AuditAction.STAFF_DISABLE, "staff_user", user.id, detail, client)
        return user

    async def change_role(
        self, session: AsyncSession, staff_id: int, role: str, *, actor: Actor = None, client: str | None = None
    ) -> StaffUser:
        user = await self.get(session, staff_id)
        new = _check_role(role)
        old = user.role
        if new == old:
            return user
        if old == Role.ADMIN:
            await self._keep_an_admin(session, user)
        user.role = new
        detail = {"username": user.username, "from": str(old), "to": new.value}
        self.audit.record(session, actor, AuditAction.STAFF_ROLE, "staff_user", user.id, detail, client)
        return user

    async def reset_password(
        self, session: AsyncSession, staff_id: int, password: str, *, actor: Actor = None, client: str | None = None
    ) -> StaffUser:
        """A new password (argon2); the user's console sessions end (API tokens run to their expiry)."""
        user = await self.get(session, staff_id)
        _check_password(password)
        user.password_hash = await hash_password_async(password)
        ended = await StaffSessionRepository(session).delete_of_staff(user.id)
        detail = {"username": user.username, "sessions_ended": ended}
        self.audit.record(session, actor, AuditAction.STAFF_PASSWORD_RESET, "staff_user", user.id, detail, client)
        return user

    async def _keep_an_admin(self, session: AsyncSession, user: StaffUser) -> None:
        if user.role == Role.ADMIN and user.is_active and await StaffRepository(session).active_admins() <= 1:
            raise Conflict("the last active admin cannot be disabled or lose the admin role")
