"""StaffService: disable, change a role, reset a password — each audited with the actor and the address, each
keeping at least one active admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.errors import Conflict, InvalidInput, NotFound
from core.models import StaffSession, StaffUser
from core.security import verify_password
from core.staff.service import StaffService
from tests.support.staff import PASSWORD, audit_rows, make_staff, staff_auth, staff_service

ADDRESS = "198.51.100.20"


Call = Callable[[StaffService, AsyncSession], Awaitable[Any]]


async def run(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, call: Call) -> Any:
    async with session_scope(sessionmaker) as session:
        return await call(staff_service(clock), session)


async def stored(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> StaffUser:
    async with sessionmaker() as session:
        user = await session.get(StaffUser, user_id)
        assert user is not None
        return user


async def test_disable_audits_and_ends_the_users_sessions(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    admin = await make_staff(sessionmaker, clock, "admin.ma", "admin")
    agent = await make_staff(sessionmaker, clock, "agent.wu")
    async with session_scope(sessionmaker) as session:
        await staff_auth(clock, settings).open_session(session, "agent.wu", PASSWORD)
    await run(sessionmaker, clock, lambda s, db: s.disable(db, agent.id, actor=admin, client=ADDRESS))
    assert (await stored(sessionmaker, agent.id)).is_active is False
    async with sessionmaker() as session:
        assert list(await session.scalars(select(StaffSession))) == []
    [row] = await audit_rows(sessionmaker, action="staff.disable")
    assert (row.staff_id, row.target_type, row.target_id, row.client, row.at) == (
        admin.id,
        "staff_user",
        str(agent.id),
        ADDRESS,
        clock.now(),
    )
    assert row.detail == {"username": "agent.wu", "sessions_ended": 1}
    with pytest.raises(Conflict, match="already disabled"):
        await run(sessionmaker, clock, lambda s, db: s.disable(db, agent.id, actor=admin))


async def test_the_last_active_admin_is_neither_disabled_nor_demoted_and_nobody_disables_themselves(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    admin = await make_staff(sessionmaker, clock, "admin.ma", "admin")
    with pytest.raises(Conflict, match="yourself"):
        await run(sessionmaker, clock, lambda s, db: s.disable(db, admin.id, actor=admin))
    with pytest.raises(Conflict, match="last active admin"):
        await run(sessionmaker, clock, lambda s, db: s.disable(db, admin.id))  # the command line
    with pytest.raises(Conflict, match="last active admin"):
        await run(sessionmaker, clock, lambda s, db: s.change_role(db, admin.id, "supervisor", actor=admin))
    second = await make_staff(sessionmaker, clock, "admin.niu", "admin")
    await run(sessionmaker, clock, lambda s, db: s.change_role(db, admin.id, "supervisor", actor=second))
    assert (await stored(sessionmaker, admin.id)).role == "supervisor"
    assert [r.action for r in await audit_rows(sessionmaker, target_id=str(admin.id))] == ["staff.create", "staff.role"]


async def test_change_role_audits_from_and_to_and_refuses_an_unknown_role(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    admin = await make_staff(sessionmaker, clock, "admin.ma", "admin")
    agent = await make_staff(sessionmaker, clock, "agent.wu")
    await run(sessionmaker, clock, lambda s, db: s.change_role(db, agent.id, "supervisor", actor=admin, client=ADDRESS))
    await run(sessionmaker, clock, lambda s, db: s.change_role(db, agent.id, "supervisor", actor=admin))  # no change
    [row] = await audit_rows(sessionmaker, action="staff.role")
    assert row.detail == {"username": "agent.wu", "from": "agent", "to": "supervisor"} and row.client == ADDRESS
    with pytest.raises(InvalidInput) as caught:
        await run(sessionmaker, clock, lambda s, db: s.change_role(db, agent.id, "root", actor=admin))
    assert caught.value.field == "role"
    with pytest.raises(NotFound):
        await run(sessionmaker, clock, lambda s, db: s.change_role(db, 999_999, "agent", actor=admin))


async def test_reset_password_sets_an_argon2_hash_and_ends_the_sessions(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, settings: Settings
) -> None:
    agent = await make_staff(sessionmaker, clock, "agent.wu")
    async with session_scope(sessionmaker) as session:
        await staff_auth(clock, settings).open_session(session, "agent.wu", PASSWORD)
    with pytest.raises(InvalidInput) as caught:
        await run(sessionmaker, clock, lambda s, db: s.reset_password(db, agent.id, "short"))
    assert caught.value.field == "password"
    await run(sessionmaker, clock, lambda s, db: s.reset_password(db, agent.id, "a new passphrase", client="cli"))
    user = await stored(sessionmaker, agent.id)
    assert user.password_hash.startswith("$argon2id$") and verify_password("a new passphrase", user.password_hash)
    assert not verify_password(PASSWORD, user.password_hash)
    async with sessionmaker() as session:
        assert list(await session.scalars(select(StaffSession))) == []
    [row] = await audit_rows(sessionmaker, action="staff.password_reset")
    assert (row.staff_id, row.client, row.detail) == (None, "cli", {"username": "agent.wu", "sessions_ended": 1})
    assert "a new passphrase" not in str(row.detail)


async def test_list_pages_through_the_staff(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    for name in ("a.one", "b.two", "c.three"):
        await make_staff(sessionmaker, clock, name)
    page = await run(sessionmaker, clock, lambda s, db: s.list(db, limit=2, offset=1))
    assert page.total == 3 and [u.username for u in page.items] == ["b.two", "c.three"]
