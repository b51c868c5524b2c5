"""The conversation services the api holds for its lifetime: the web chat, and Telegram in webhook mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.config import Settings
from core.dialogue import (
    MemoryStateBackend,
    NoticeResponder,
    RedisStateBackend,
    StateBackend,
    WebChat,
    build_conversations,
)


@asynccontextmanager
async def conversation_services(
    app: FastAPI, settings: Settings, notices: NoticeResponder | None = None
) -> AsyncIterator[None]:
    """Needs app.state.clock, .nlu, .metrics, .services and .sessionmaker; sets .webchat and .telegram (None unless
    webhook mode)."""
    services = app.state.services
    renderer = services.renderer
    conversations = build_conversations(
        settings,
        app.state.clock,
        app.state.nlu,
        renderer=renderer,
        notices=notices or services.notice_responder(),
        metrics=app.state.metrics,
        core=services,
    )
    states: StateBackend = (
        RedisStateBackend(settings.redis_url) if settings.redis_url else MemoryStateBackend(app.state.clock)
    )
    app.state.renderer = renderer
    app.state.webchat = WebChat(conversations, states, services.identities)
    app.state.telegram = None
    if settings.telegram_token is not None and settings.telegram_webhook_secret is not None:
        from bot.app import build_telegram

        app.state.telegram = build_telegram(
            settings,
            sessionmaker=app.state.sessionmaker,
            conversations=conversations,
            clock=app.state.clock,
            renderer=renderer,
        )
    try:
        yield
    finally:
        if app.state.telegram is not None:
            await app.state.telegram.aclose()
        await states.aclose()
