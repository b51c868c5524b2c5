"""The Telegram bot (aiogram 3): long polling by default, or webhook updates handed over by the api.

Updates go through: a gate (messages, buttons and block/unblock from private chats; anything else is
dropped quietly) → throttling (per user) → a database session → the sender's identity and language → the
handlers (bot/handlers.py), which call the one dialogue engine. Conversation state is aiogram's FSM:
MemoryStorage by default, RedisStorage when GRIDTALK_REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.types import BotCommand
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.handlers import make_router
from bot.middlewares import DbSessionMiddleware, IdentityMiddleware, PrivateUpdatesOnly
from bot.throttling import MemoryThrottleCounter, RedisThrottleCounter, ThrottleCounter, ThrottlingMiddleware
from bot.turn import TurnMiddleware
from core.clock import Clock, SystemClock
from core.config import Settings
from core.customers.service import IdentityService
from core.dialogue.service import ConversationService, build_conversations
from core.models.enums import Language, values
from core.services import CoreServices
from core.templating import Renderer

log = logging.getLogger("gridtalk.bot")

COMMANDS = ("start", "menu", "bind", "language", "help")
WEBHOOK_PATH = "/telegram/webhook"


def make_bot(settings: Settings) -> Bot:
    if settings.telegram_token is None:
        raise ValueError("GRIDTALK_TELEGRAM_TOKEN is not set")
    session = None
    if settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(token=settings.telegram_token.get_secret_value(), session=session)


def make_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation | None, ThrottleCounter]:
    """FSM storage, event isolation (one update of a user at a time) and throttle counters: Redis or memory."""
    ttl = settings.conversation_idle_minutes * 60
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.redis_url, state_ttl=ttl, data_ttl=ttl)
        return storage, storage.create_isolation(), RedisThrottleCounter(settings.redis_url)
    return MemoryStorage(), None, MemoryThrottleCounter()


def make_dispatcher(
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    conversations: ConversationService,
    clock: Clock,
    renderer: Renderer,
    storage: BaseStorage | None = None,
    isolation: BaseEventIsolation | None = None,
    throttle: ThrottleCounter | None = None,
) -> Dispatcher:
    if storage is None:
        storage, isolation, throttle = make_storage(settings)
    identities = IdentityService(clock)
    dispatcher = Dispatcher(
        storage=storage,
        # one update of a user at a time (their FSM state is read and written by each)
        events_isolation=isolation or SimpleEventIsolation(),
        conversations=conversations,
        renderer=renderer,
        settings=settings,
        identities=identities,
    )
    counter = throttle or MemoryThrottleCounter()
    dispatcher.update.outer_middleware(PrivateUpdatesOnly())
    dispatcher.update.outer_middleware(
        ThrottlingMiddleware(counter, clock, renderer, settings.chat_rate_limit, settings.chat_rate_window)
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dispatcher.update.outer_middleware(IdentityMiddleware(identities))
    dispatcher.update.outer_middleware(TurnMiddleware())
    dispatcher.include_router(make_router())

    async def _close_counter() -> None:
        await counter.aclose()

    dispatcher.shutdown.register(_close_counter)
    return dispatcher


async def set_commands(bot: Bot, renderer: Renderer) -> None:
    """/start /menu /bind /language /help, described in Chinese (the default) and in English."""
    for language in (None, *values(Language)):
        commands = [
            BotCommand(command=name, description=renderer.render("bot/commands", language or "zh", key=name))
            for name in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=language)


@dataclass
class TelegramApp:
    """The bot and its dispatcher, as the api holds them in webhook mode."""

    bot: Bot
    dispatcher: Dispatcher

    async def aclose(self) -> None:
        await self.dispatcher.emit_shutdown()  # closes the FSM storage and the throttle counters
        await self.bot.session.close()


def build_telegram(
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    conversations: ConversationService,
    clock: Clock,
    renderer: Renderer,
) -> TelegramApp:
    bot = make_bot(settings)
    dispatcher = make_dispatcher(
        settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
    )
    return TelegramApp(bot, dispatcher)


async def run_bot(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """`gridtalk bot`: long polling; in webhook mode, register the webhook (the api receives updates) and wait.

    Alone, SIGTERM/SIGINT stop it; inside another process (`gridtalk app`), setting `stop` does."""
    from core.db import make_engine, make_sessionmaker
    from nlu.client import RasaNluClient

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    clock = SystemClock()
    services = CoreServices.build(settings, clock)
    renderer = services.renderer
    engine = make_engine(settings.database_url)
    nlu = RasaNluClient(
        settings.rasa_url or f"http://127.0.0.1:{settings.rasa_port}",
        timeout=settings.nlu_timeout,
        threshold=settings.nlu_confidence_threshold,
        max_chars=settings.nlu_max_chars,
    )
    conversations = build_conversations(settings, clock, nlu, renderer=renderer, core=services)
    telegram = build_telegram(
        settings, sessionmaker=make_sessionmaker(engine), conversations=conversations, clock=clock, renderer=renderer
    )
    try:
        if settings.telegram_webhook_secret is not None:
            try:
                await set_commands(telegram.bot, renderer)
                url = settings.base_url + WEBHOOK_PATH
                await telegram.bot.set_webhook(
                    url,
                    secret_token=settings.telegram_webhook_secret.get_secret_value(),
                    allowed_updates=telegram.dispatcher.resolve_used_update_types(),
                )
                log.info("webhook mode: Telegram sends updates to %s (the api handles them)", url)
                await (stop or asyncio.Event()).wait()  # stay up for the supervisor; the api does the work
            finally:
                await telegram.aclose()
        else:
            await set_commands(telegram.bot, renderer)
            await telegram.bot.delete_webhook()
            log.info("long polling")
            # start_polling closes the bot session and emits shutdown (FSM storage, counters) when it stops
            if stop is None:
                await telegram.dispatcher.start_polling(telegram.bot, handle_signals=True)
            else:
                await _poll_until(telegram, stop)
    finally:
        await nlu.aclose()
        await engine.dispose()


async def _poll_until(telegram: TelegramApp, stop: asyncio.Event) -> None:
    """Long polling until `stop` is set (then polling stops as on a signal: sessions closed, shutdown emitted)."""
    polling = asyncio.create_task(telegram.dispatcher.start_polling(telegram.bot, handle_signals=False))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([polling, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            try:
                await telegram.dispatcher.stop_polling()
            except RuntimeError:  # not polling yet (still starting up)
                polling.cancel()
        await asyncio.wait([polling])
        if not polling.cancelled():
            polling.result()  # its error, if it failed
    finally:
        stopping.cancel()
        if not polling.done():
            polling.cancel()
