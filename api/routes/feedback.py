"""Staff API of satisfaction feedback (the contract in DESIGN.md): the report of a period and its CSV export,
and the follow-ups (回访) of low scores with their closing. FEEDBACK_READ (an agent: their own surveys and
follow-ups; an account manager: those of their key accounts); the CSV export is an export (EXPORTS: admins
and supervisors), audited, with phone and account numbers masked. Each route makes one service call."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api import errors
from api.deps import ServicesDep, SessionDep, StaffContext, require
from api.schemas import Instant, Offset, RecordId, text_field
from core.feedback.followups import MAX_NOTE, FollowUpView
from core.feedback.reports import CommentCounts, GroupFigures, LowComment, WeekFigures
from core.feedback.repository import Scope
from core.models.enums import FollowUpState
from core.staff.permissions import Permission

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"], responses=errors.STAFF)
followups_router = APIRouter(prefix="/api/v1/followups", tags=["feedback"], responses=errors.STAFF)

ReaderDep = Annotated[StaffContext, Depends(require(Permission.FEEDBACK_READ))]
ExporterDep = Annotated[StaffContext, Depends(require(Permission.EXPORTS))]
From = Annotated[
    Instant | None,
    Query(
        alias="from",
        description="the period's start (ISO 8601 with offset); default: Monday 00:00 (local), 7 weeks before `to`'s",
    ),
]
To = Annotated[Instant | None, Query(alias="to", description="the period's end, excluded; default: now")]


def scope_of(staff: StaffContext) -> Scope:
    return Scope.of(staff.user.role, staff.owner_id)


class ReportOut(BaseModel):
    """The satisfaction figures of the surveys SENT in [from, to): rates are fractions 0-1 (null when there is
    nothing to divide by); weeks are ISO weeks in the utility's timezone, every week of the period listed."""

    model_config = ConfigDict(from_attributes=True)

    from_: datetime = Field(validation_alias="start", serialization_alias="from")
    to: datetime = Field(validation_alias="end")
    timezone: str
    low_score: int = Field(description="a score at or under this is a low score")
    responses: int = Field(description="surveys answered")
    sent: int = Field(description="surveys sent")
    response_rate: float | None
    csat: float | None = Field(description="share of 4-5 among the answers, 0-1")
    average: float | None = Field(description="mean score of the answers, 1-5")
    by_channel: list[GroupFigures]
    by_segment: list[GroupFigures]
    by_agent: list[GroupFigures] = Field(description="key: the agent's username; null: no agent (the bot)")
    by_intent: list[GroupFigures]
    weeks: list[WeekFigures]
    low_comments: list[LowComment] = Field(description="the newest comments of low scores (numbers masked)")
    low_comments_total: int
    comments: CommentCounts


class FollowUpList(BaseModel):
    items: list[FollowUpView]
    total: int


class CloseIn(BaseModel):
    note: str = text_field(MAX_NOTE, min_length=1)


@router.get("/report", responses=errors.responses(422))
async def report(
    session: SessionDep, services: ServicesDep, staff: ReaderDep, start: From = None, end: To = None
) -> ReportOut:
    """The report of a period (default: this week and the 7 before it)."""
    return ReportOut.model_validate(await services.feedback_reports.report(session, scope_of(staff), start, end))


@router.get(
    "/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "one line per answered survey"}},
)
async def report_csv(
    session: SessionDep, services: ServicesDep, staff: ExporterDep, start: From = None, end: To = None
) -> Response:
    """The answered surveys of the period with their comments (phone and account numbers masked); audited."""
    period, text = await services.feedback_reports.export_csv(
        session, scope_of(staff), start, end, actor=staff.user, client=staff.client
    )
    tz = services.feedback_reports.tz
    first: date = period.start.astimezone(tz).date()
    last: date = period.end.astimezone(tz).date()
    return Response(
        content=text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="feedback-{first}-{last}.csv"'},
    )


@followups_router.get("")
async def followups(
    session: SessionDep,
    services: ServicesDep,
    staff: ReaderDep,
    state: FollowUpState | None = None,
    overdue: Annotated[bool | None, Query(description="true: only open ones past due; false: the others")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> FollowUpList:
    """Due first."""
    page = await services.followups.page(
        session, scope_of(staff), state=state, overdue=overdue, limit=limit, offset=offset
    )
    return FollowUpList(items=page.items, total=page.total)


@followups_router.post("/{followup_id}/close", responses=errors.responses(400, 404, 409))
async def close(
    followup_id: RecordId, body: CloseIn, session: SessionDep, services: ServicesDep, staff: ReaderDep
) -> FollowUpView:
    """Close an open follow-up with what the return visit found."""
    return await services.followups.close(
        session, followup_id, body.note, actor=staff.user, scope=scope_of(staff), client=staff.client
    )
