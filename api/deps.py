"""FastAPI dependencies: the app's shared objects and a database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from core.db import session_scope
from core.models import StaffUser
from core.services import CoreServices
from core.staff.auth import NotAuthenticated, staff_for_token


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_services(request: Request) -> CoreServices:
    """The domain services, built once in the app's lifespan."""
    services: CoreServices = request.app.state.services
    return services


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the route returns, rolled back when it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with session_scope(sessionmaker) as session:
        yield session


# scope="function": the unit of work commits before the response goes out, so a client that got its answer
# reads its own write on the next request (FastAPI's default for yield dependencies ends after the response).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[CoreServices, Depends(get_services)]


# --- staff authentication: a bearer token from POST /api/v1/auth/token on every staff route ---
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_current_staff(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> StaffUser:
    """The signed-in staff user; 401 (with WWW-Authenticate: Bearer) without a valid token."""
    if not token:
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await staff_for_token(session, clock, settings, token)
    except NotAuthenticated as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None


StaffDep = Annotated[StaffUser, Depends(get_current_staff)]
