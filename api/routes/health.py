from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from core.operations.heartbeat import WorkerState

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """Each check: "ok", or what is wrong ("error: …", "unavailable", "stale", "unknown", "not required")."""

    database: str
    nlu: str
    worker: str


NOT_REQUIRED = "not required"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers, the NLU server has a model loaded and (with GRIDTALK_REQUIRE_WORKER, which
    `gridtalk run` sets) some worker beat within GRIDTALK_WORKER_STALE_SECONDS; 503 otherwise.

    "worker" is "ok", "stale", or "unknown" while the database is down; when no worker is required (an api
    on its own) anything but "ok" reads "not required" and does not make the api unready."""
    state = request.app.state
    settings = state.settings
    checks = {"database": "ok", "nlu": "ok", "worker": "ok"}
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if not await state.nlu.ready():
        checks["nlu"] = "unavailable"
    checks["worker"] = await _worker(request) if checks["database"] == "ok" else WorkerState.UNKNOWN
    if checks["worker"] != WorkerState.OK and not settings.require_worker:
        checks["worker"] = NOT_REQUIRED
    ok = all(value in ("ok", NOT_REQUIRED) for value in checks.values())
    return JSONResponse(checks, status_code=200 if ok else 503)


async def _worker(request: Request) -> str:
    state = request.app.state
    try:
        async with state.sessionmaker() as session:
            return str(await state.services.heartbeats.worker_state(session))
    except Exception as exc:
        return f"error: {type(exc).__name__}"
