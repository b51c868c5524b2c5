"""AuditService: rows as recorded (who, what, when, which record, from where), the filtered and paginated list,
and that rows are never changed or deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.db import session_scope
from core.models import AuditLog
from core.staff.audit import AuditAction, AuditLogIsAppendOnly, AuditService
from tests.support.staff import make_staff


async def test_record_and_list_with_filters_newest_first(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    audit = AuditService(clock)
    admin = await make_staff(sessionmaker, clock, "admin.ma", "admin")
    agent = await make_staff(sessionmaker, clock, "agent.wu")
    start = clock.now()
    async with session_scope(sessionmaker) as session:
        for minute, (actor, action, target) in enumerate(
            [
                (admin, "outage.create", 1),
                (agent, "outage.update", 1),
                (admin, "outage.publish", 2),
                (None, "auth.login_failed", "agent.wu"),
            ]
        ):
            audit.record(
                session,
                actor,
                action,
                "username" if action.startswith("auth.") else "outage",
                target,
                {"n": minute, "at": start},
                "192.0.2.9" + "0" * 80,  # longer than the column: cut to 64
                at=start + timedelta(minutes=minute + 1),
            )
    async with sessionmaker() as session:
        everything = await audit.list(session)
        assert everything.total == 6  # two staff.create rows too
        assert [e.action for e in everything.items][:4] == [
            "auth.login_failed",
            "outage.publish",
            "outage.update",
            "outage.create",
        ]
        newest = everything.items[0]
        assert (newest.actor, newest.actor_id, newest.target_type, newest.target_id) == (
            None,
            None,
            "username",
            "agent.wu",
        )
        assert newest.client is not None and len(newest.client) == 64
        assert newest.detail == {"n": 3, "at": start.isoformat()}

        by_actor = await audit.list(session, actor="admin.ma")
        assert [e.action for e in by_actor.items] == ["outage.publish", "outage.create"]
        assert (await audit.list(session, actor_id=agent.id)).total == 1
        assert (await audit.list(session, actor="nobody")).total == 0
        assert [e.action for e in (await audit.list(session, action="outage.")).items] == [
            "outage.publish",
            "outage.update",
            "outage.create",
        ]
        assert (await audit.list(session, action="outage")).total == 0  # exact unless it ends in "."
        assert (await audit.list(session, target="outage:1")).total == 2
        assert (await audit.list(session, target="outage")).total == 3
        assert (await audit.list(session, since=start + timedelta(minutes=3))).total == 2
        page = await audit.list(session, limit=2, offset=2)
        assert page.total == 6 and [e.action for e in page.items] == ["outage.update", "outage.create"]
        actions = await audit.actions(session)
        assert set(actions) >= {a.value for a in AuditAction} and actions == sorted(actions)


async def test_audit_rows_are_never_changed_or_deleted(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with session_scope(sessionmaker) as session:
        AuditService(clock).record(session, None, "outage.create", "outage", 1)
    with pytest.raises(AuditLogIsAppendOnly):
        async with session_scope(sessionmaker) as session:
            entry = (await AuditService(clock).list(session)).items[0]
            row = await session.get(AuditLog, entry.id)
            assert row is not None
            row.action = "outage.publish"
    with pytest.raises(AuditLogIsAppendOnly):
        async with session_scope(sessionmaker) as session:
            row = (await AuditService(clock).list(session)).items[0]
            stored = await session.get(AuditLog, row.id)
            await session.delete(stored)
    async with sessionmaker() as session:
        assert [e.action for e in (await AuditService(clock).list(session)).items] == ["outage.create"]
