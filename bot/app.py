"""The Telegram bot process (aiogram 3): long polling, or webhook updates handed over by the api."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.config import Settings


def make_bot(settings: Settings) -> Bot:
    if settings.telegram_token is None:
        raise ValueError("GRIDTALK_TELEGRAM_TOKEN is not set")
    session = None
    if settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(token=settings.telegram_token.get_secret_value(), session=session)


def make_dispatcher(settings: Settings) -> Dispatcher:
    return Dispatcher()


async def run_polling(settings: Settings) -> None:
    bot = make_bot(settings)
    await make_dispatcher(settings).start_polling(bot, handle_signals=True)
