"""Staff sign-in: OAuth2 password form → bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import ClockDep, SessionDep, SettingsDep, StaffDep
from core.staff.auth import NotAuthenticated, sign_in

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: int
    username: str
    role: str
    display_name: str


@router.post("/token")
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Token:
    """Sign in with a staff username and password (made with `gridtalk staff create`)."""
    try:
        issued = await sign_in(session, clock, settings, form.username, form.password)
    except NotAuthenticated as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    return Token(access_token=issued.access_token, expires_in=int((issued.expires_at - clock.now()).total_seconds()))


@router.get("/me")
async def me(staff: StaffDep) -> Me:
    """Who the token belongs to."""
    return Me(id=staff.id, username=staff.username, role=staff.role, display_name=staff.display_name)
