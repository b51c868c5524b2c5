"""A database session per update (committed when the update is handled) and the identity of the sender."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.customers.service import telegram_identity
from core.db import session_scope


class DbSessionMiddleware(BaseMiddleware):
    """One unit of work per update: committed when the handler returns, rolled back when it raises."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with session_scope(self.sessionmaker) as session:
            data["session"] = session
            return await handler(event, data)


class IdentityMiddleware(BaseMiddleware):
    """i18n: the sender's Identity (created on first contact in the language their Telegram app uses; later
    the one they chose), handed to handlers as `identity`; replies are rendered in identity.language."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None  # channel posts and the like: nobody to talk to
        chat: Chat | None = data.get("event_chat")
        identity = await telegram_identity(
            data["session"],
            self.clock,
            user_id=user.id,
            chat_id=chat.id if chat is not None else user.id,
            language_code=user.language_code,
        )
        data["identity"] = identity
        data["language"] = identity.language
        return await handler(event, data)
