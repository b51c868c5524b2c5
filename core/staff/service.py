from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import Conflict, InvalidInput
from core.models import AuditLog, StaffUser
from core.models.enums import Role, values
from core.security import hash_password
from core.staff.repository import AuditRepository, StaffRepository

USERNAME = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
MIN_PASSWORD = 8


async def create_staff(
    session: AsyncSession,
    clock: Clock,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor_id: int | None = None,
) -> StaffUser:
    if not USERNAME.match(username):
        raise InvalidInput("username: 3–64 letters, digits, '.', '_' or '-'", field="username")
    if role not in values(Role):
        raise InvalidInput(f"role must be one of {', '.join(values(Role))}", field="role")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    repo = StaffRepository(session)
    if await repo.by_username(username) is not None:
        raise Conflict(f"a staff user named {username!r} already exists", field="username")
    now = clock.now()
    user = repo.add(
        StaffUser(
            username=username,
            password_hash=hash_password(password),
            role=role,
            display_name=display_name or username,
            created_at=now,
        )
    )
    await session.flush()
    AuditRepository(session).add(
        AuditLog(
            at=now,
            staff_id=actor_id,
            action="staff.create",
            target_type="staff_user",
            target_id=str(user.id),
            detail={"username": username, "role": role},
        )
    )
    return user
