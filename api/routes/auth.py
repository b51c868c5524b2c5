"""Staff sign-in for the API: OAuth2 password form → bearer token (the console signs in at /console/login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import errors
from api.deps import AnyStaffDep, ClockDep, ServicesDep, SessionDep, client_address
from api.schemas import TEXT_PATTERN
from core.staff.auth import NotAuthenticated, Throttled
from core.staff.service import MAX_PASSWORD

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class SignIn(BaseModel):
    """The OAuth2 password form (`grant_type=password`, may be left out); other OAuth2 fields are ignored."""

    username: str = Field(max_length=64, pattern=TEXT_PATTERN)
    password: str = Field(max_length=MAX_PASSWORD, pattern=TEXT_PATTERN)
    grant_type: str | None = Field(None, pattern="^password$")


class Me(BaseModel):
    id: int
    username: str
    role: str
    display_name: str


@router.post(
    "/token",
    response_model=Token,
    responses=errors.responses(400, 401, 422, 429),
)
async def token(
    request: Request,
    form: Annotated[SignIn, Form()],
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
        return errors.error_response(401, exc.message, type_=exc.code, headers={"WWW-Authenticate": "Bearer"})
    except Throttled as exc:
        return errors.error_response(429, exc.message, type_=exc.code, headers={"Retry-After": str(exc.retry_after)})
    return Token(access_token=issued.access_token, expires_in=int((issued.expires_at - clock.now()).total_seconds()))


@router.get("/me", responses=errors.responses(401))
async def me(staff: AnyStaffDep) -> Me:
    """Who the token (or the console session) belongs to."""
    user = staff.user
    return Me(id=user.id, username=user.username, role=user.role, display_name=user.display_name)
