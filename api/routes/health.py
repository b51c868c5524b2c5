from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers and the NLU server has a model loaded (503 otherwise)."""
    checks = {"database": "ok", "nlu": "ok"}
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if not await request.app.state.nlu.ready():
        checks["nlu"] = "unavailable"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(checks, status_code=200 if ok else 503)
