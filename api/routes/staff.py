"""Staff users, for admins (Permission.STAFF_MANAGE): list, create, disable, change a role, reset a password.
Every change is audited with the admin and the address it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import Offset, RecordId, text_field
from core.models import StaffUser
from core.models.enums import Role
from core.staff.permissions import Permission
from core.staff.service import MAX_DISPLAY_NAME, MAX_PASSWORD

router = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=errors.STAFF)

AdminDep = Annotated[StaffContext, Depends(require(Permission.STAFF_MANAGE))]


class StaffOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: StaffUser) -> StaffOut:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            display_name=user.display_name,
            is_active=user.is_active,
            created_at=user.created_at,
        )


class StaffList(BaseModel):
    items: list[StaffOut]
    total: int


class StaffIn(BaseModel):
    username: str = text_field(64)
    password: str = text_field(MAX_PASSWORD)
    role: Role
    display_name: str = text_field(MAX_DISPLAY_NAME, "")


class RoleIn(BaseModel):
    role: Role


class PasswordIn(BaseModel):
    password: str = text_field(MAX_PASSWORD)


@router.get("")
async def list_staff(
    session: SessionDep,
    services: ServicesDep,
    staff: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> StaffList:
    page = await services.staff.list(session, limit=limit, offset=offset)
    return StaffList(items=[StaffOut.of(u) for u in page.items], total=page.total)


@router.post("", status_code=201, responses=errors.responses(400, 409))
async def create_staff(body: StaffIn, session: SessionDep, services: ServicesDep, staff: AdminDep) -> StaffOut:
    """A new staff user (username: 3–64 letters, digits, '.', '_', '-'; password: at least 8 characters)."""
    user = await services.staff.create(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        actor=staff.user,
        client=staff.client,
    )
    return StaffOut.of(user)


@router.post("/{staff_id}/disable", responses=errors.responses(404, 409))
async def disable_staff(staff_id: RecordId, session: SessionDep, services: ServicesDep, staff: AdminDep) -> StaffOut:
    """The user can no longer sign in; their tokens and console sessions stop working at once."""
    user = await services.staff.disable(session, staff_id, actor=staff.user, client=staff.client)
    return StaffOut.of(user)


@router.patch("/{staff_id}", responses=errors.responses(400, 404, 409))
async def change_role(
    staff_id: RecordId, body: RoleIn, session: SessionDep, services: ServicesDep, staff: AdminDep
) -> StaffOut:
    """Change the user's role (the last active admin keeps theirs)."""
    user = await services.staff.change_role(session, staff_id, body.role, actor=staff.user, client=staff.client)
    return StaffOut.of(user)


@router.post("/{staff_id}/password", responses=errors.responses(400, 404))
async def reset_password(
    staff_id: RecordId, body: PasswordIn, session: SessionDep, services: ServicesDep, staff: AdminDep
) -> StaffOut:
    """Set a new password; the user's console sessions end."""
    user = await services.staff.reset_password(session, staff_id, body.password, actor=staff.user, client=staff.client)
    return StaffOut.of(user)
