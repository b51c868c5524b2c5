"""Domain errors → HTTP: one mapping for the whole API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied

STATUS = {NotFound: 404, InvalidInput: 422, Conflict: 409, PermissionDenied: 403}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        detail: dict[str, object] = {"code": exc.code, "msg": exc.message}
        if exc.field:
            detail["loc"] = ["body", exc.field]
        return JSONResponse({"detail": [detail]}, status_code=status)
