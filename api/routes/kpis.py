"""Staff API of the KPI dashboard: GET /api/v1/kpis?from=&to= (KPIS_READ: admins and supervisors everything, an
account manager their own key accounts; an agent is refused). One service call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.routes.feedback import From, To, scope_of
from core.kpis.dashboard import Kpi, NoticeRate
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/kpis", tags=["kpis"], responses=errors.STAFF)

ReaderDep = Annotated[StaffContext, Depends(require(Permission.KPIS_READ))]


class DashboardOut(BaseModel):
    """The KPIs of [start, end): each with its value over the period, its base (how many things it is of), its
    target (where a setting gives one) and its value per ISO week (the utility's timezone; every week listed,
    null where there was nothing to measure); ratios are fractions 0-1, times seconds. And per notice stage and
    audience (key_account | residential) the delivery and confirmation rates."""

    model_config = ConfigDict(from_attributes=True)

    start: datetime
    end: datetime
    timezone: str
    kpis: list[Kpi] = Field(
        description="in order: containment, escalations, first_response, first_response_met, csat, nlu_fallback"
    )
    notices: list[NoticeRate]


@router.get("", responses=errors.responses(422))
async def dashboard(
    session: SessionDep, services: ServicesDep, staff: ReaderDep, start: From = None, end: To = None
) -> DashboardOut:
    """The KPIs of a period (default: this week and the 7 before it)."""
    return DashboardOut.model_validate(await services.kpis.dashboard(session, scope_of(staff), start, end))
