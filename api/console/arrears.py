"""The console's arrears page (/console/arrears): the unpaid bills past their due date, most overdue first — the
account (masked), the customer, the period and amount, the days overdue and when a reminder of it was last sent
(core.billing.reminders). DELIVERIES_PERSONAL (names and account numbers): admins and supervisors see every
account, an account manager their own key accounts only; agents none. One service call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.console.render import Pager, render
from api.deps import ServicesDep, SessionDep, StaffContext, require_page
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", include_in_schema=False)

Reader = Annotated[StaffContext, Depends(require_page(Permission.DELIVERIES_PERSONAL))]
PAGE_SIZE = 50


@router.get("/arrears")
async def arrears(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: Reader,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    items, total = await services.bill_reminders.arrears(
        session, manager_id=staff.owner_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(request, "arrears", staff, items=items, pager=Pager.of(request, total, PAGE_SIZE, page))
