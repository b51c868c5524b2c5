"""Errors → HTTP: one body for every error the API answers, one mapping for the whole API.

Every error answer, whatever raised it, has the shape FastAPI gives a validation error:
`{"detail": [{"type", "loc", "msg", ...}]}` (`ErrorBody` in the OpenAPI):

- a request that does not match the route's parameters or body: 422, pydantic's items (with `input`, `ctx`);
- a domain error (core.errors): 404 not found, 409 conflict, 422 invalid input, 403 permission denied, 401 not
  authenticated, 429 throttled, 400 any other; `type` is the error's stable `code`, `loc` `["body", field]`
  when it names a field;
- an HTTPException (no or bad credentials, a role without the permission, too many sessions, an unknown
  path): its status, `type` from the status (`unauthorized`, `forbidden`, `too_many_requests`, ...).

Routes declare the error answers they can give with `responses=errors.responses(401, 404, ...)` (routers
with their common ones), so the OpenAPI lists every status a client can meet and the body it carries.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import database_unreachable
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from core.staff.auth import NotAuthenticated, Throttled

log = logging.getLogger("gridtalk.api")

STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    PermissionDenied: 403,
    NotAuthenticated: 401,
    Throttled: 429,
}

DESCRIPTIONS = {
    400: "the request body could not be read",
    401: "no credentials, or bad or expired ones",
    403: "the role may not do this",
    404: "no such record",
    409: "the record's state does not allow it",
    422: "the request does not match the parameters or the body's schema",
    429: "too many requests: try again after Retry-After seconds",
    503: "the database is unreachable for a moment: try again after Retry-After seconds",
}

UNAVAILABLE_RETRY_AFTER = 5  # seconds a client waits before trying again while the database is unreachable


class ErrorItem(BaseModel):
    """One problem: what kind (`type`, stable), where (`loc`: e.g. `["body", "reason"]`, empty when the
    request as a whole), and a readable message. Validation errors add pydantic's `input` and `ctx`."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    detail: list[ErrorItem]


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI declaration of error answers, for a route's or a router's `responses=`."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses}


# A staff JSON route (api.deps.require): no or bad credentials, a role without the permission, bad input.
STAFF = responses(401, 403, 422, 503)


def error_response(
    status: int, msg: str, *, type_: str | None = None, loc: list[str | int] | None = None, headers: Any = None
) -> JSONResponse:
    """An error answer in the one shape (`ErrorBody`)."""
    item = {"type": type_ or _status_type(status), "loc": loc or [], "msg": msg}
    return JSONResponse({"detail": [item]}, status_code=status, headers=headers)


def _status_type(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        loc: list[str | int] = ["body", exc.field] if exc.field else []
        return error_response(status, exc.message, type_=exc.code, loc=loc, headers=headers)

    @app.exception_handler(OSError)
    @app.exception_handler(DBAPIError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        """A database that cannot be reached (restarting, failing over) is a 503 the client may retry, not a
        500; any other database error is a bug, and stays one."""
        if not database_unreachable(exc):
            raise exc
        log.warning("%s %s: database unreachable (%s)", request.method, request.url.path, type(exc).__name__)
        return error_response(
            503,
            "the service is briefly unavailable: try again shortly",
            type_="database_unavailable",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=exc.headers)
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)
