"""A minimal /metrics endpoint for a process without a web framework (the worker): plain asyncio.

Each scrape refreshes the database gauges in a unit of work of its own, then renders the registry.
Leaving the context closes the listening socket; a request in progress is bounded by READ_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import session_scope
from core.observability.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("gridtalk.observability")

READ_TIMEOUT = 5.0
MAX_HEADER_LINES = 100


@asynccontextmanager
async def serve_metrics(
    metrics: Metrics,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    host: str,
    port: int,
) -> AsyncIterator[asyncio.Server]:
    """Serve GET /metrics on host:port while the context lasts (port 0: any free port, see server.sockets).
    Raises OSError when the port cannot be bound."""

    async def scrape() -> bytes:
        async with session_scope(sessionmaker) as session:
            await metrics.refresh(session, clock.now())
        return metrics.render()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body, content_type = await _answer(reader, scrape)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), READ_TIMEOUT)

    server = await asyncio.start_server(handle, host, port)
    log.info("serving /metrics on %s:%d", host, server.sockets[0].getsockname()[1])
    try:
        yield server
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), READ_TIMEOUT)


async def _answer(reader: asyncio.StreamReader, scrape: Callable[[], Awaitable[bytes]]) -> tuple[str, bytes, str]:
    text = "text/plain; charset=utf-8"
    try:
        request_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        for _ in range(MAX_HEADER_LINES):  # the headers are not needed: read up to the blank line
            if (await asyncio.wait_for(reader.readline(), READ_TIMEOUT)).strip() == b"":
                break
        else:
            return "431 Request Header Fields Too Large", b"too many headers\n", text
    except ValueError:  # a line longer than the reader's limit
        return "400 Bad Request", b"bad request\n", text
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3:
        return "400 Bad Request", b"bad request\n", text
    method, target, _version = parts
    if target.partition("?")[0] != "/metrics":
        return "404 Not Found", b"not found: try /metrics\n", text
    if method not in ("GET", "HEAD"):
        return "405 Method Not Allowed", b"GET /metrics\n", text
    try:
        body = await scrape()
    except Exception:
        log.exception("cannot refresh the metrics from the database")
        return "500 Internal Server Error", b"cannot read the database\n", text
    return "200 OK", b"" if method == "HEAD" else body, CONTENT_TYPE
