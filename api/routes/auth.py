"""Staff sign-in for the API: OAuth2 password form → bearer token (the console signs in at /console/login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import AnyStaffDep, ClockDep, ServicesDep, SessionDep, client_address
from core.staff.auth import NotAuthenticated, Throttled

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


@router.post(
    "/token",
    response_model=Token,
    responses={401: {"description": "wrong username or password"}, 429: {"description": "too many failures"}},
)
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    services: ServicesDep,
    clock: ClockDep,
) -> Token | JSONResponse:
    """Sign in with a staff username and password (made with `gridtalk staff create`). Failed sign-ins are
    audited and throttled per username and per address (429 with Retry-After)."""
    try:
        issued = await services.staff_auth.issue_token(
            session, form.username, form.password, client=client_address(request)
        )
    except NotAuthenticated as exc:  # answered, not raised: the failure's audit row is committed
        return JSONResponse({"detail": exc.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    except Throttled as exc:
        return JSONResponse({"detail": exc.message}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    return Token(access_token=issued.access_token, expires_in=int((issued.expires_at - clock.now()).total_seconds()))


@router.get("/me")
async def me(staff: AnyStaffDep) -> Me:
    """Who the token (or the console session) belongs to."""
    user = staff.user
    return Me(id=user.id, username=user.username, role=user.role, display_name=user.display_name)
