"""StaffAuth without HTTP: throttling of failed sign-ins (per username, per address), their audit rows, the
scrypt → argon2 upgrade on sign-in, and console sessions (expiry on the injected clock, sign-out, a disabled
user)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import StaffSession, StaffUser
from core.security import scrypt_hash, token_digest, verify_password
from core.staff.auth import ConsoleSession, NotAuthenticated, StaffAuth, Throttled
from tests.support.staff import PASSWORD, audit_rows, make_staff, staff_auth, staff_service

ADDRESS = "203.0.113.7"


@pytest.fixture
def throttled_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        env="test",
        staff_login_max_failures=3,
        staff_login_max_failures_per_client=5,
        staff_login_window_minutes=15,
        staff_session_minutes=60,
    )


async def attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    auth: StaffAuth,
    username: str,
    password: str,
    client: str | None = ADDRESS,
) -> str:
    """One sign-in in its own unit of work, committed whatever the outcome (as the routes do): 'ok',
    'failed' or 'throttled'."""
    async with session_scope(sessionmaker) as session:
        try:
            await auth.authenticate(session, username, password, client=client, via="api")
        except NotAuthenticated:
            return "failed"
        except Throttled:
            return "throttled"
    return "ok"


async def test_failed_sign_ins_are_audited_with_the_username_address_and_reason(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    user = await make_staff(sessionmaker, clock, "agent.wu")
    assert await attempt(sessionmaker, auth, "agent.wu", "wrong password") == "failed"
    assert await attempt(sessionmaker, auth, "nobody", PASSWORD, client="198.51.100.1") == "failed"
    async with session_scope(sessionmaker) as session:
        stored = await session.get(StaffUser, user.id)
        assert stored is not None
        stored.is_active = False
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD) == "failed"
    rows = await audit_rows(sessionmaker, action="auth.login_failed")
    assert [(r.staff_id, r.target_type, r.target_id, r.client, r.detail["reason"]) for r in rows] == [
        (None, "username", "agent.wu", ADDRESS, "password"),
        (None, "username", "nobody", "198.51.100.1", "unknown_user"),
        (None, "username", "agent.wu", ADDRESS, "disabled"),
    ]
    assert all(r.at == clock.now() and r.detail["via"] == "api" for r in rows)


async def test_a_username_is_refused_after_too_many_failures_until_the_window_passes(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    await make_staff(sessionmaker, clock, "agent.wu")
    for minute in range(3):
        assert await attempt(sessionmaker, auth, "agent.wu", "guess", client=f"10.0.0.{minute}") == "failed"
        clock.advance(timedelta(minutes=1))
    # the right password, from anywhere, is not even checked now
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD, client="10.9.9.9") == "throttled"
    with pytest.raises(Throttled) as caught:
        async with session_scope(sessionmaker) as session:
            await auth.authenticate(session, "agent.wu", PASSWORD, client="10.9.9.9", via="console")
    assert caught.value.retry_after == 12 * 60  # the first failure (3 minutes ago) ages out in 12 minutes
    # another username from the same addresses is not affected
    await make_staff(sessionmaker, clock, "agent.li")
    assert await attempt(sessionmaker, auth, "agent.li", PASSWORD, client="10.0.0.1") == "ok"

    clock.advance(timedelta(minutes=12))  # the oldest failure leaves the window
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD, client="10.9.9.9") == "ok"
    throttled = await audit_rows(sessionmaker, action="auth.login_throttled")
    assert [(r.target_id, r.client) for r in throttled] == [("agent.wu", "10.9.9.9")]


async def test_an_unknown_username_is_throttled_the_same_way(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    outcomes = [await attempt(sessionmaker, auth, "nobody", "guess", client=f"10.0.1.{i}") for i in range(4)]
    assert outcomes == ["failed", "failed", "failed", "throttled"]  # nothing tells it apart from a real name


async def test_a_successful_sign_in_starts_the_usernames_count_again(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    await make_staff(sessionmaker, clock, "agent.wu")
    for _ in range(2):
        assert await attempt(sessionmaker, auth, "agent.wu", "typo", client=None) == "failed"
    async with session_scope(sessionmaker) as session:
        await auth.issue_token(session, "agent.wu", PASSWORD)
    clock.advance(timedelta(seconds=1))
    for _ in range(2):
        assert await attempt(sessionmaker, auth, "agent.wu", "typo", client=None) == "failed"
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD, client=None) == "ok"


async def test_an_address_is_refused_after_too_many_failures_whatever_the_usernames(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    await make_staff(sessionmaker, clock, "agent.wu")
    for i in range(5):  # five usernames, one failure each: no username reaches its limit
        assert await attempt(sessionmaker, auth, f"user{i}", "guess") == "failed"
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD) == "throttled"
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD, client="192.0.2.1") == "ok"  # another address
    clock.advance(timedelta(minutes=15))
    assert await attempt(sessionmaker, auth, "agent.wu", PASSWORD) == "ok"


async def test_a_scrypt_hash_is_rehashed_to_argon2_on_a_successful_sign_in(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    auth = staff_auth(clock, settings)
    user = await make_staff(sessionmaker, clock, "old.timer")
    old = scrypt_hash(PASSWORD, b"0123456789abcdef")
    async with session_scope(sessionmaker) as session:
        stored = await session.get(StaffUser, user.id)
        assert stored is not None
        stored.password_hash = old
    assert await attempt(sessionmaker, auth, "old.timer", "not the password") == "failed"
    async with sessionmaker() as session:
        assert (await session.get(StaffUser, user.id)).password_hash == old  # type: ignore[union-attr]
    assert await attempt(sessionmaker, auth, "old.timer", PASSWORD) == "ok"
    async with sessionmaker() as session:
        upgraded = (await session.get(StaffUser, user.id)).password_hash  # type: ignore[union-attr]
    assert upgraded.startswith("$argon2id$") and verify_password(PASSWORD, upgraded)
    assert await attempt(sessionmaker, auth, "old.timer", PASSWORD) == "ok"


# --------------------------------------------------------------------------------------- sessions


async def open_session(
    sessionmaker: async_sessionmaker[AsyncSession], auth: StaffAuth, username: str, **kw: Any
) -> ConsoleSession:
    async with session_scope(sessionmaker) as session:
        return await auth.open_session(session, username, PASSWORD, client=ADDRESS, **kw)


async def holder(sessionmaker: async_sessionmaker[AsyncSession], auth: StaffAuth, token: str) -> ConsoleSession:
    async with session_scope(sessionmaker) as session:
        return await auth.session_for(session, token)


async def test_a_console_session_is_stored_hashed_and_expires_on_the_injected_clock(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, throttled_settings: Settings
) -> None:
    auth = staff_auth(clock, throttled_settings)
    user = await make_staff(sessionmaker, clock, "agent.wu")
    opened = await open_session(sessionmaker, auth, "agent.wu")
    assert opened.token and opened.csrf_token and opened.expires_at == clock.now() + timedelta(minutes=60)
    async with sessionmaker() as session:
        row = await session.scalar(select(StaffSession))
    assert row is not None
    assert (row.staff_id, row.client, row.created_at, row.last_seen_at) == (user.id, ADDRESS, clock.now(), clock.now())
    assert row.token_hash == token_digest(opened.token) and opened.token not in row.token_hash
    login = (await audit_rows(sessionmaker, action="auth.login"))[-1]
    assert (login.staff_id, login.target_id, login.client) == (user.id, str(user.id), ADDRESS)

    clock.advance(timedelta(minutes=59, seconds=59))
    found = await holder(sessionmaker, auth, opened.token)
    assert found.staff.id == user.id and found.csrf_token == opened.csrf_token and found.token is None
    async with sessionmaker() as session:
        assert (await session.scalar(select(StaffSession.last_seen_at))) == clock.now()
    clock.advance(timedelta(seconds=1))
    with pytest.raises(NotAuthenticated, match="expired"):
        await holder(sessionmaker, auth, opened.token)


@pytest.mark.parametrize("token", ["", "made-up", "x" * 500])
async def test_an_unknown_session_token_is_not_authenticated(
    token: str, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, staff_auth(clock, settings), token)


async def test_sign_out_revokes_the_session_and_is_audited(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    auth = staff_auth(clock, settings)
    user = await make_staff(sessionmaker, clock, "agent.wu")
    first = await open_session(sessionmaker, auth, "agent.wu")
    second = await open_session(sessionmaker, auth, "agent.wu")  # another browser
    assert first.token and second.token
    async with session_scope(sessionmaker) as session:
        assert await auth.close_session(session, first.token, client=ADDRESS) is True
    with pytest.raises(NotAuthenticated):
        await holder(sessionmaker, auth, first.token)
    assert (await holder(sessionmaker, auth, second.token)).staff.id == user.id
    async with session_scope(sessionmaker) as session:
        assert await auth.close_session(session, first.token) is False  # twice: nothing more happens
    logout = await audit_rows(sessionmaker, action="auth.logout")
    assert [(r.staff_id, r.target_id, r.client) for r in logout] == [(user.id, str(user.id), ADDRESS)]


async def test_a_disabled_users_sessions_are_refused_and_deleted(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    auth = staff_auth(clock, settings)
    admin = await make_staff(sessionmaker, clock, "admin.ma", "admin")
    user = await make_staff(sessionmaker, clock, "agent.wu")
    opened = await open_session(sessionmaker, auth, "agent.wu")
    assert opened.token
    async with session_scope(sessionmaker) as session:  # disabled behind the service's back: still refused
        stored = await session.get(StaffUser, user.id)
        assert stored is not None
        stored.is_active = False
    with pytest.raises(NotAuthenticated, match="disabled"):
        await holder(sessionmaker, auth, opened.token)
    async with session_scope(sessionmaker) as session:
        stored = await session.get(StaffUser, user.id)
        assert stored is not None
        stored.is_active = True
    assert (await holder(sessionmaker, auth, opened.token)).staff.id == user.id
    async with session_scope(sessionmaker) as session:  # through the service: the sessions are gone
        await staff_service(clock).disable(session, user.id, actor=admin, client=ADDRESS)
    async with sessionmaker() as session:
        assert list(await session.scalars(select(StaffSession))) == []


def test_the_csrf_token_must_match_exactly(clock: FrozenClock) -> None:
    console = ConsoleSession(1, StaffUser(), "the-token", clock.now(), None)
    assert StaffAuth.csrf_matches(console, "the-token")
    for given in (None, "", "the-toke", "the-token ", "THE-TOKEN"):
        assert not StaffAuth.csrf_matches(console, given)
