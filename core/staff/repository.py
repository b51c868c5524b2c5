"""The SQL of staff users, their console sessions and the audit log. Never commits. The audit log is only
ever added to: there is no update or delete here, and the model refuses them (core.staff.audit)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select

from core.db.repository import RepositoryBase
from core.models import AuditLog, StaffSession, StaffUser
from core.models.enums import Role


class StaffRepository(RepositoryBase[StaffUser]):
    model = StaffUser

    async def by_username(self, username: str) -> StaffUser | None:
        return await self.session.scalar(select(StaffUser).where(StaffUser.username == username))

    async def page(self, *, limit: int, offset: int) -> tuple[list[StaffUser], int]:
        total = await self.count()
        rows = await self.session.scalars(select(StaffUser).order_by(StaffUser.id).limit(limit).offset(offset))
        return list(rows), total

    async def active_admins(self) -> int:
        query = select(func.count()).where(StaffUser.role == Role.ADMIN, StaffUser.is_active.is_(True))
        return int(await self.session.scalar(query) or 0)


class StaffSessionRepository(RepositoryBase[StaffSession]):
    model = StaffSession

    async def by_token_hash(self, token_hash: str) -> tuple[StaffSession, StaffUser] | None:
        row = (
            await self.session.execute(
                select(StaffSession, StaffUser)
                .join(StaffUser, StaffUser.id == StaffSession.staff_id)
                .where(StaffSession.token_hash == token_hash)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def delete_by_token_hash(self, token_hash: str) -> StaffSession | None:
        found = await self.session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash))
        if found is not None:
            await self.session.delete(found)
        return found

    async def delete_of_staff(self, staff_id: int) -> int:
        result = await self.session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
        return int(getattr(result, "rowcount", 0) or 0)

    async def delete_expired(self, now: datetime) -> None:
        await self.session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))

    async def count_of_staff(self, staff_id: int) -> int:
        query = select(func.count()).select_from(StaffSession).where(StaffSession.staff_id == staff_id)
        return int(await self.session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log; None: any. action ending in '.' is a prefix ('auth.' is every sign-in row)."""

    actor_id: int | None = None
    actor_username: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepository(RepositoryBase[AuditLog]):
    model = AuditLog

    async def count_since(
        self,
        action: str,
        since: datetime,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        client: str | None = None,
    ) -> tuple[int, datetime | None]:
        """Rows of one action after `since` (for one target and/or one client): how many, the oldest."""
        where: list[ColumnElement[bool]] = [AuditLog.action == action, AuditLog.at > since]
        if target_type is not None:
            where.append(AuditLog.target_type == target_type)
        if target_id is not None:
            where.append(AuditLog.target_id == target_id)
        if client is not None:
            where.append(AuditLog.client == client)
        count, oldest = (await self.session.execute(select(func.count(), func.min(AuditLog.at)).where(*where))).one()
        return int(count or 0), oldest

    async def last_at(self, actions: Collection[str], staff_id: int) -> datetime | None:
        query = select(func.max(AuditLog.at)).where(AuditLog.action.in_(list(actions)), AuditLog.staff_id == staff_id)
        value: datetime | None = await self.session.scalar(query)
        return value

    async def page(
        self, query: AuditQuery, *, limit: int, offset: int
    ) -> tuple[list[tuple[AuditLog, str | None]], int]:
        """Rows matching the filters, newest first, with the actor's username; and how many match."""
        where: list[ColumnElement[bool]] = []
        if query.actor_id is not None:
            where.append(AuditLog.staff_id == query.actor_id)
        if query.actor_username:
            where.append(AuditLog.staff_id.in_(select(StaffUser.id).where(StaffUser.username == query.actor_username)))
        if query.action:
            if query.action.endswith("."):
                where.append(AuditLog.action.startswith(query.action, autoescape=True))
            else:
                where.append(AuditLog.action == query.action)
        if query.target_type:
            where.append(AuditLog.target_type == query.target_type)
        if query.target_id is not None:
            where.append(AuditLog.target_id == query.target_id)
        if query.since is not None:
            where.append(AuditLog.at >= query.since)
        if query.until is not None:
            where.append(AuditLog.at < query.until)
        total = int(await self.session.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0)
        rows = await self.session.execute(
            select(AuditLog, StaffUser.username)
            .outerjoin(StaffUser, StaffUser.id == AuditLog.staff_id)
            .where(*where)
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(entry, username) for entry, username in rows], total

    async def actions(self) -> list[str]:
        """Every action the log holds (for the console's filter)."""
        return list(await self.session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))
