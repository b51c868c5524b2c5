"""`gridtalk app`: the api, the worker and (with GRIDTALK_TELEGRAM_TOKEN) the bot in one process, one event loop.

What `gridtalk run` starts by default (GRIDTALK_RUN_MODE=embedded). Each part is the same code as its own
command (`gridtalk api`, `gridtalk worker`, `gridtalk bot`) and builds its services as that command does; only
the process is shared, so aiogram, FastAPI, SQLAlchemy and pydantic are imported once instead of three times
(about 130 MB of a process is aiogram's Bot API types). `gridtalk run` also hands it the mail catcher
(`--mail-catcher`), which then needs no process of its own either.

The worker part heartbeats as a worker process does, so /readyz answers as with separate processes. A part
that stops by itself (an error, or a return) stops the whole process with exit code 1: the supervisor
restarts it, with its backoff and crash limit, as it restarts any child. SIGTERM or SIGINT stop every part
gracefully (the api finishes its requests, the bot stops polling, the worker's tick is cancelled) and the
process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

from core.config import Settings

log = logging.getLogger("gridtalk.app")

STOP_GRACE = 10.0  # seconds the parts get to stop before they are cancelled


def _api_server(settings: Settings) -> Any:
    """A uvicorn server for the api, leaving the signals to this process (it stops the server itself)."""
    import uvicorn

    from api.app import create_app
    from core.logs import uvicorn_log_config

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings.log_level),
    )
    return Server(config)


async def run_app(settings: Settings, *, mail_catcher: Path | None = None) -> int:
    """Serve every part until SIGTERM/SIGINT (0) or until one part stops by itself (1)."""
    from gridtalk.lean_imports import defer_aiogram_types

    defer_aiogram_types()  # before anything imports aiogram: ≈ 100 MB less
    from bot.app import run_bot
    from gridtalk.worker import run_worker

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bot_stop = asyncio.Event()
    api = _api_server(settings)
    parts: dict[str, Coroutine[Any, Any, object]] = {}
    if mail_catcher is not None:
        from core.clock import SystemClock
        from core.notices.mailcatcher import MailFolder, serve_catcher

        parts["mail catcher"] = serve_catcher(MailFolder(mail_catcher), SystemClock(), settings.mail_catcher_port)
    parts["api"] = api.serve()
    parts["worker"] = run_worker(settings)
    if settings.telegram_token is not None:
        parts["bot"] = run_bot(settings, stop=bot_stop)
    tasks = {asyncio.create_task(coro, name=name): name for name, coro in parts.items()}
    log.info("serving %s in one process", ", ".join(parts))
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    for task in done:
        if task is stopping:
            continue
        code = 1
        if task.cancelled():
            log.error("the %s stopped (cancelled): stopping the process", tasks[task])
        elif (exc := task.exception()) is not None:
            log.error("the %s failed: stopping the process", tasks[task], exc_info=exc)
        else:
            log.error("the %s stopped by itself: stopping the process", tasks[task])
    stopping.cancel()
    await _stop(tasks, api, bot_stop)
    return code


async def _stop(tasks: dict[asyncio.Task[object], str], api: Any, bot_stop: asyncio.Event) -> None:
    """The api finishes its requests and the bot stops polling, within STOP_GRACE; the rest is cancelled."""
    api.should_exit = True
    bot_stop.set()
    running = [task for task in tasks if not task.done()]
    graceful = [task for task in running if tasks[task] in ("api", "bot")]
    if graceful:
        await asyncio.wait(graceful, timeout=STOP_GRACE)
    for task in running:
        task.cancel()
    results = await asyncio.gather(*running, return_exceptions=True)
    for task, result in zip(running, results, strict=True):
        if isinstance(result, Exception):
            log.warning("the %s failed while stopping: %s: %s", tasks[task], type(result).__name__, result)
