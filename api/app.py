"""The api process: staff REST API, staff console, web chat, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import console, errors
from api.conversations import conversation_services
from api.routes import (
    applications,
    audit,
    auth,
    chat,
    escalations,
    feedback,
    health,
    kpis,
    mail,
    metrics,
    outages,
    public,
    staff,
    telegram,
    tickets,
)
from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.dialogue import NoticeResponder
from core.observability import InstrumentedNlu, Metrics
from core.ports import NluClient
from core.services import CoreServices
from nlu.client import RasaNluClient

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    nlu: NluClient | None = None,
    notices: NoticeResponder | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(settings.database_url)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        owned_nlu = None
        if nlu is None:
            rasa_url = settings.rasa_url or f"http://127.0.0.1:{settings.rasa_port}"
            owned_nlu = RasaNluClient(
                rasa_url,
                timeout=settings.nlu_timeout,
                threshold=settings.nlu_confidence_threshold,
                max_chars=settings.nlu_max_chars,
            )
        app.state.nlu = nlu or owned_nlu
        app.state.metrics = Metrics()
        app.state.nlu = InstrumentedNlu(app.state.nlu, app.state.metrics)  # timed and counted for /metrics
        app.state.services = CoreServices.build(settings, app.state.clock)
        try:
            async with conversation_services(app, settings, notices):
                yield
        finally:
            if owned_nlu is not None:
                await owned_nlu.aclose()
            await app.state.engine.dispose()

    app = FastAPI(title="gridtalk", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    errors.install(app)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(chat.page_router)
    app.include_router(telegram.router)
    app.include_router(auth.router)
    app.include_router(outages.router)
    app.include_router(public.router)
    app.include_router(public.page_router)
    app.include_router(staff.router)
    app.include_router(audit.router)
    app.include_router(escalations.router)
    app.include_router(tickets.router)
    app.include_router(applications.router)
    app.include_router(feedback.router)
    app.include_router(feedback.followups_router)
    app.include_router(kpis.router)
    app.include_router(metrics.router)
    app.include_router(mail.router)
    console.install(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")  # htmx, the console's CSS
    return app
