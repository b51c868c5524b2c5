"""The audit log, read-only (Permission.AUDIT_READ): who did what, when, to which record, from where. There
is no route that changes or deletes a row."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import TEXT_PATTERN, Instant, Offset
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=errors.STAFF)


class AuditItem(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor: str | None
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, Any]
    client: str | None


class AuditList(BaseModel):
    items: list[AuditItem]
    total: int


@router.get("")
async def list_audit(
    session: SessionDep,
    services: ServicesDep,
    staff: Annotated[StaffContext, Depends(require(Permission.AUDIT_READ))],
    actor: Annotated[
        str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="the acting staff user's username")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, pattern=TEXT_PATTERN, description="an action, or a prefix ending in '.' (e.g. 'auth.')"),
    ] = None,
    target: Annotated[
        str | None, Query(max_length=120, pattern=TEXT_PATTERN, description="`type` or `type:id`, e.g. `outage:12`")
    ] = None,
    since: Annotated[Instant | None, Query(description="at or after this time (ISO 8601 with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> AuditList:
    """Newest first."""
    page = await services.audit.list(
        session, actor=actor, action=action, target=target, since=since, limit=limit, offset=offset
    )
    return AuditList(
        items=[
            AuditItem(
                id=e.id,
                at=e.at,
                actor_id=e.actor_id,
                actor=e.actor,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                detail=e.detail,
                client=e.client,
            )
            for e in page.items
        ],
        total=page.total,
    )
