"""GET /metrics: the api's Prometheus metrics (no login; keep it off the public network, like /readyz)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import ClockDep, SessionDep
from core.observability import Metrics
from core.observability.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """The counters of this process, and the outbox and escalation gauges read from the database now."""
    registry: Metrics = request.app.state.metrics
    await registry.refresh(session, clock.now())
    return Response(content=registry.render(), media_type=CONTENT_TYPE)
