"""Staff users and sign-in directly (no HTTP): StaffService.create's refusals and audit row, StaffAuth.issue_token,
and which tokens StaffAuth.staff_for_token accepts on the injectable clock (expired, tampered, issued in the future,
a disabled user)."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import Conflict, InvalidInput
from core.models import AuditLog, StaffUser
from core.security import verify_password
from core.staff.auth import ALGORITHM, ISSUER, IssuedToken, NotAuthenticated, _signing_key
from core.staff.service import MIN_PASSWORD
from tests.support.staff import staff_auth, staff_service

PASSWORD = "correct horse"


async def run(sessionmaker: async_sessionmaker[AsyncSession], call: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with session_scope(sessionmaker) as session:
        return await call(session)


async def new_staff(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    username: str = "agent.wu",
    role: str = "agent",
    **more: Any,
) -> StaffUser:
    user: StaffUser = await run(
        sessionmaker,
        lambda s: staff_service(clock).create(s, username=username, password=PASSWORD, role=role, **more),
    )
    return user


async def token_for(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings, username: str
) -> IssuedToken:
    issued: IssuedToken = await run(
        sessionmaker, lambda s: staff_auth(clock, settings).issue_token(s, username, PASSWORD)
    )
    return issued


async def holder(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings, token: str
) -> StaffUser:
    user: StaffUser = await run(sessionmaker, lambda s: staff_auth(clock, settings).staff_for_token(s, token))
    return user


async def audit(sessionmaker: async_sessionmaker[AsyncSession]) -> list[AuditLog]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))


async def staff_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(StaffUser)) or 0)


async def disable(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> None:
    async with session_scope(sessionmaker) as session:
        user = await session.get(StaffUser, user_id)
        assert user is not None
        user.is_active = False


def signed(settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHM)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# ------------------------------------------------------------------------------------------ create


async def test_create_staff_stores_a_hashed_password_and_writes_an_audit_row(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    admin = await new_staff(sessionmaker, clock, "admin", "admin")
    user = await new_staff(sessionmaker, clock, "supervisor.qian", "supervisor", display_name="钱敏", actor=admin)
    async with sessionmaker() as session:
        stored = await session.get(StaffUser, user.id)
    assert stored is not None
    assert (stored.username, stored.role, stored.display_name, stored.is_active) == (
        "supervisor.qian",
        "supervisor",
        "钱敏",
        True,
    )
    assert stored.created_at == clock.now()
    assert PASSWORD not in stored.password_hash and verify_password(PASSWORD, stored.password_hash)
    assert admin.display_name == "admin"  # defaults to the username

    first, second = await audit(sessionmaker)
    assert (first.action, first.staff_id, first.target_id) == ("staff.create", None, str(admin.id))
    assert (second.action, second.staff_id, second.target_type, second.target_id) == (
        "staff.create",
        admin.id,
        "staff_user",
        str(user.id),
    )
    assert second.detail == {"username": "supervisor.qian", "role": "supervisor"}
    assert second.at == clock.now()


@pytest.mark.parametrize("username", ["abc", "a.b_c-d", "Agent.Li2", "x" * 64])
async def test_create_staff_accepts_these_usernames(
    username: str, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    user = await new_staff(sessionmaker, clock, username)
    assert user.username == username


@pytest.mark.parametrize(
    ("username", "role", "password", "field"),
    [
        ("ab", "agent", PASSWORD, "username"),
        ("x" * 65, "agent", PASSWORD, "username"),
        ("agent li", "agent", PASSWORD, "username"),
        ("李娜", "agent", PASSWORD, "username"),
        ("a/b/c", "agent", PASSWORD, "username"),
        ("", "agent", PASSWORD, "username"),
        ("agent.li", "root", PASSWORD, "role"),
        ("agent.li", "Admin", PASSWORD, "role"),
        ("agent.li", "", PASSWORD, "role"),
        ("agent.li", "agent", "x" * (MIN_PASSWORD - 1), "password"),
        ("agent.li", "agent", "", "password"),
    ],
)
async def test_create_staff_refuses_naming_the_field(
    username: str,
    role: str,
    password: str,
    field: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await run(
            sessionmaker,
            lambda s: staff_service(clock).create(s, username=username, password=password, role=role),
        )
    assert caught.value.field == field
    assert await staff_count(sessionmaker) == 0
    assert await audit(sessionmaker) == []


async def test_a_password_of_the_minimum_length_is_accepted(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    user = await run(
        sessionmaker,
        lambda s: staff_service(clock).create(s, username="agent.li", password="x" * MIN_PASSWORD, role="agent"),
    )
    assert verify_password("x" * MIN_PASSWORD, user.password_hash)


async def test_a_second_user_with_the_same_name_is_a_conflict(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    first = await new_staff(sessionmaker, clock, "agent.li", "agent")
    with pytest.raises(Conflict) as caught:
        await new_staff(sessionmaker, clock, "agent.li", "admin")
    assert caught.value.field == "username"
    assert await staff_count(sessionmaker) == 1
    async with sessionmaker() as session:
        stored = await session.get(StaffUser, first.id)
    assert stored is not None and stored.role == "agent"
    assert [e.target_id for e in await audit(sessionmaker)] == [str(first.id)]


# ----------------------------------------------------------------------------------------- sign in


async def test_sign_in_issues_a_token_for_the_user_and_audits_it(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock, "manager.sun", "account_manager")
    issued = await token_for(sessionmaker, clock, settings, "manager.sun")

    assert issued.staff.id == user.id
    assert issued.expires_at == clock.now() + timedelta(minutes=settings.staff_token_minutes)
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert claims["sub"] == str(user.id) and claims["role"] == "account_manager" and claims["iss"] == ISSUER
    assert claims["iat"] == int(clock.now().timestamp()) and claims["exp"] == int(issued.expires_at.timestamp())

    entry = (await audit(sessionmaker))[-1]
    assert (entry.action, entry.staff_id, entry.target_type, entry.target_id, entry.at) == (
        "auth.token",
        user.id,
        "staff_user",
        str(user.id),
        clock.now(),
    )
    assert (await holder(sessionmaker, clock, settings, issued.access_token)).id == user.id


async def test_the_token_lifetime_comes_from_the_settings(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, database_url: str
) -> None:
    settings = Settings(database_url=database_url, env="test", staff_token_minutes=15)
    await new_staff(sessionmaker, clock)
    issued = await token_for(sessionmaker, clock, settings, "agent.wu")
    assert issued.expires_at == clock.now() + timedelta(minutes=15)
    clock.advance(timedelta(minutes=15))
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, clock, settings, issued.access_token)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("agent.wu", "wrong password"),
        ("agent.wu", ""),
        ("agent.wu", PASSWORD.upper()),
        ("Agent.Wu", PASSWORD),
        ("nobody", PASSWORD),
        ("", ""),
    ],
)
async def test_sign_in_with_a_wrong_password_or_an_unknown_user_is_not_authenticated(
    username: str,
    password: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    await new_staff(sessionmaker, clock)
    with pytest.raises(NotAuthenticated) as caught:
        await run(sessionmaker, lambda s: staff_auth(clock, settings).issue_token(s, username, password))
    assert caught.value.message == "incorrect username or password"  # the same for both: no user enumeration
    # no token, no auth.token row (and the failure's row went with the rolled-back unit of work)
    assert [e.action for e in await audit(sessionmaker)] == ["staff.create"]


async def test_an_inactive_user_cannot_sign_in_even_with_the_right_password(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock)
    await disable(sessionmaker, user.id)
    with pytest.raises(NotAuthenticated) as caught:
        await token_for(sessionmaker, clock, settings, "agent.wu")
    assert caught.value.message == "incorrect username or password"
    assert "auth.token" not in [e.action for e in await audit(sessionmaker)]


# ----------------------------------------------------------------------------------- token checks


async def test_a_token_is_valid_until_it_expires_on_the_injected_clock(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock)
    issued = await token_for(sessionmaker, clock, settings, "agent.wu")
    clock.advance(timedelta(minutes=settings.staff_token_minutes) - timedelta(seconds=1))
    assert (await holder(sessionmaker, clock, settings, issued.access_token)).id == user.id
    clock.advance(timedelta(seconds=1))
    with pytest.raises(NotAuthenticated) as caught:
        await holder(sessionmaker, clock, settings, issued.access_token)
    assert "expired" in caught.value.message
    clock.advance(timedelta(days=30))
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, clock, settings, issued.access_token)


async def test_the_role_is_read_from_the_database_not_the_token(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock, role="supervisor")
    issued = await token_for(sessionmaker, clock, settings, "agent.wu")
    async with session_scope(sessionmaker) as session:
        stored = await session.get(StaffUser, user.id)
        assert stored is not None
        stored.role = "agent"  # type: ignore[assignment]
    assert (await holder(sessionmaker, clock, settings, issued.access_token)).role == "agent"


async def test_a_tampered_token_is_not_authenticated(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    agent = await new_staff(sessionmaker, clock, "agent.wu", "agent")
    admin = await new_staff(sessionmaker, clock, "admin.ma", "admin")
    issued = await token_for(sessionmaker, clock, settings, "agent.wu")
    header, payload, signature = issued.access_token.split(".")
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    as_admin = f"{header}.{b64({**claims, 'sub': str(admin.id), 'role': 'admin'})}.{signature}"
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    other_secret = Settings(database_url=settings.database_url, env="test", secret_key="another-secret-key")
    foreign = signed(other_secret, claims)
    wrong_issuer = signed(settings, {**claims, "iss": "someone-else"})
    no_expiry = signed(settings, {k: v for k, v in claims.items() if k != "exp"})
    not_a_number = signed(settings, {**claims, "sub": "agent.wu"})

    for token in (
        as_admin,
        f"{header}.{payload}.{flipped}",
        f"{header}.{payload}.",
        unsigned,
        foreign,
        wrong_issuer,
        no_expiry,
        not_a_number,
        "",
        "not.a.token",
        issued.access_token + "x",
    ):
        with pytest.raises(NotAuthenticated):
            await holder(sessionmaker, clock, settings, token)
    assert (await holder(sessionmaker, clock, settings, issued.access_token)).id == agent.id  # the real one works


async def test_a_token_issued_in_the_future_is_not_authenticated(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock)
    ahead = FrozenClock(clock.now() + timedelta(minutes=5))
    from_the_future = await token_for(sessionmaker, ahead, settings, "agent.wu")
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, clock, settings, from_the_future.access_token)
    # a minute of clock skew between machines is tolerated
    skewed = await token_for(sessionmaker, FrozenClock(clock.now() + timedelta(seconds=60)), settings, "agent.wu")
    assert (await holder(sessionmaker, clock, settings, skewed.access_token)).id == user.id
    clock.advance(timedelta(minutes=5))
    assert (await holder(sessionmaker, clock, settings, from_the_future.access_token)).id == user.id


async def test_a_token_of_a_disabled_or_unknown_user_is_not_authenticated(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    user = await new_staff(sessionmaker, clock)
    issued = await token_for(sessionmaker, clock, settings, "agent.wu")
    assert (await holder(sessionmaker, clock, settings, issued.access_token)).id == user.id
    await disable(sessionmaker, user.id)
    with pytest.raises(NotAuthenticated) as caught:
        await holder(sessionmaker, clock, settings, issued.access_token)
    assert "disabled" in caught.value.message

    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    ghost = signed(settings, {**claims, "sub": str(user.id + 1000)})
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, clock, settings, ghost)
