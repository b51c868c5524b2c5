"""The audit log: who did what, when, to which record, from where. Every staff action writes one row through
AuditService.record, in the caller's unit of work (so a refused action leaves no row, and a recorded one is
committed with the change it describes). Failed sign-ins are recorded too (core.staff.auth). Rows are never
changed or deleted: there is no such method, and the ORM refuses it.

Built once per process (AuditService(clock)); each call takes the caller's session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.models import AuditLog, StaffUser
from core.staff.repository import AuditQuery, AuditRepository

MAX_CLIENT = 64  # audit_log.client
MAX_TARGET_ID = 64  # audit_log.target_id


class AuditAction(StrEnum):
    """The actions written so far. The column is an open vocabulary (a feature adds its own actions, named
    `<thing>.<verb>`); the console shows a label for those its locale files name."""

    AUTH_TOKEN = "auth.token"  # an API token issued (POST /api/v1/auth/token)
    AUTH_LOGIN = "auth.login"  # a console session opened
    AUTH_LOGOUT = "auth.logout"
    AUTH_LOGIN_FAILED = "auth.login_failed"  # wrong password, unknown or disabled user
    AUTH_LOGIN_THROTTLED = "auth.login_throttled"  # refused unchecked: too many recent failures
    STAFF_CREATE = "staff.create"
    STAFF_DISABLE = "staff.disable"
    STAFF_ROLE = "staff.role"
    STAFF_PASSWORD_RESET = "staff.password_reset"
    OUTAGE_CREATE = "outage.create"
    OUTAGE_PUBLISH = "outage.publish"
    OUTAGE_UPDATE = "outage.update"
    OUTAGE_CANCEL = "outage.cancel"
    OUTAGE_COMPLETE = "outage.complete"
    OUTAGE_LINK_TICKETS = "outage.link_tickets"
    ESCALATION_CLAIM = "escalation.claim"
    ESCALATION_ASSIGN = "escalation.assign"
    ESCALATION_REPLY = "escalation.reply"
    ESCALATION_RESOLVE = "escalation.resolve"
    TICKET_STATUS = "ticket.status"
    FOLLOWUP_CLOSE = "followup.close"  # a low score's follow-up (回访) closed with a note


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: int | None
    actor: str | None  # the actor's username
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, Any]
    client: str | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEntry]
    total: int


Actor = StaffUser | int | None


def actor_id(actor: Actor) -> int | None:
    return actor.id if isinstance(actor, StaffUser) else actor


class AuditService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def record(
        self,
        session: AsyncSession,
        actor: Actor,
        action: str,
        target_type: str,
        target_id: object = None,
        detail: dict[str, Any] | None = None,
        client: str | None = None,
        *,
        at: datetime | None = None,
    ) -> AuditLog:
        """Add one row to the caller's unit of work. actor: the staff user (or id) who acted, None for the
        system, the command line, or nobody signed in (a failed sign-in); client: the address it came from."""
        return AuditRepository(session).add(
            AuditLog(
                at=at or self.clock.now(),
                staff_id=actor_id(actor),
                action=str(action),
                target_type=target_type,
                target_id=None if target_id is None else str(target_id)[:MAX_TARGET_ID],
                detail=_jsonable(detail or {}),
                client=client[:MAX_CLIENT] if client else None,
            )
        )

    async def actions(self, session: AsyncSession) -> list[str]:
        """The known actions and those the log holds, sorted (for a filter's choices)."""
        return sorted({*(a.value for a in AuditAction), *await AuditRepository(session).actions()})

    async def list(
        self,
        session: AsyncSession,
        *,
        actor: str | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> AuditPage:
        """Newest first. actor: a username; action: exact, or a prefix ending in '.'; target: `type` or
        `type:id` (e.g. `outage:12`)."""
        target_type, target_id = None, None
        if target:
            target_type, _, rest = target.partition(":")
            target_id = rest or None
        rows, total = await AuditRepository(session).page(
            AuditQuery(
                actor_id=actor_id,
                actor_username=actor or None,
                action=action or None,
                target_type=target_type or None,
                target_id=target_id,
                since=since,
                until=until,
            ),
            limit=limit,
            offset=offset,
        )
        return AuditPage(
            items=[
                AuditEntry(
                    id=e.id,
                    at=e.at,
                    actor_id=e.staff_id,
                    actor=username,
                    action=e.action,
                    target_type=e.target_type,
                    target_id=e.target_id,
                    detail=dict(e.detail or {}),
                    client=e.client,
                )
                for e, username in rows
            ],
            total=total,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditLog, "before_update")
def _refuse_update(*_args: object) -> None:
    raise AuditLogIsAppendOnly("audit log rows are never changed")


@event.listens_for(AuditLog, "before_delete")
def _refuse_delete(*_args: object) -> None:
    raise AuditLogIsAppendOnly("audit log rows are never deleted")
