"""TelegramChannel: messages out through the Bot API (aiogram), with Telegram's failures turned into the
notice dispatcher's errors (core.notices.channels): 429 → RetryAfter, 403 → RecipientBlocked, 401 (a wrong or
revoked token) and a Bot API server that cannot be reached (connection refused, no route, DNS) → ChannelDown:
every send would fail the same way, so the dispatcher pauses the channel; 5xx, a timeout and a dropped
connection → TemporaryFailure (this one send is retried); anything else Telegram refuses → PermanentFailure.

It implements core.ports.Channel (`send(address, message)`, address = the chat id) and the notice
dispatcher's NoticeChannel (`deliver(address, notice)`). Text is sent in HTML parse mode: the templates
render HTML-escaped for it.
"""

from __future__ import annotations

import math

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from aiohttp import ClientConnectorError

from core.config import Settings
from core.notices.channels import ChannelDown, PermanentFailure, RecipientBlocked, RetryAfter, TemporaryFailure
from core.notices.render import RenderedNotice
from core.ports import OutgoingMessage


def make_sending_bot(settings: Settings) -> Bot:
    """A Bot for sending notices: its connection pool as large as the sends in flight (aiogram's default
    pool of 100 connections would queue a larger concurrency behind it)."""
    if settings.telegram_token is None:
        raise ValueError("GRIDTALK_TELEGRAM_TOKEN is not set")
    limit = max(100, settings.notice_concurrency)
    if settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base), limit=limit)
    else:
        session = AiohttpSession(limit=limit)
    return Bot(token=settings.telegram_token.get_secret_value(), session=session)


def keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=b.title, callback_data=b.payload) for b in message.buttons]]
    )


class TelegramChannel:
    def __init__(self, bot: Bot, *, allow_paid_broadcast: bool = False, timeout: float | None = None) -> None:
        self.bot = bot
        self.allow_paid_broadcast = allow_paid_broadcast
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramChannel:
        return cls(
            make_sending_bot(settings),
            allow_paid_broadcast=settings.notice_allow_paid_broadcast,
            timeout=settings.notice_send_timeout,
        )

    async def send(self, address: str, message: OutgoingMessage) -> None:
        try:
            chat_id = int(address)
        except ValueError as exc:
            raise PermanentFailure(f"telegram: not a chat id: {address!r}") from exc
        try:
            await self.bot.send_message(
                chat_id=chat_id,
                text=message.text,
                parse_mode="HTML",
                reply_markup=keyboard(message),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_paid_broadcast=True if self.allow_paid_broadcast else None,
                # never shorter than the dispatcher's own timeout (whole seconds: aiogram's type)
                request_timeout=math.ceil(self.timeout) if self.timeout else None,
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(float(exc.retry_after), f"telegram: {exc.message}") from exc
        except TelegramForbiddenError as exc:
            raise RecipientBlocked(f"telegram: {exc.message}") from exc
        except TelegramUnauthorizedError as exc:  # fixed by the operator (the token), after which the sends go
            raise ChannelDown(f"telegram: 401 {exc.message}: the bot token is wrong or revoked") from exc
        except TelegramNetworkError as exc:
            if isinstance(exc.__cause__, ClientConnectorError):  # the Bot API server cannot be reached at all
                raise ChannelDown(f"telegram: cannot reach the Bot API: {exc.message}") from exc
            raise TemporaryFailure(f"telegram: {type(exc).__name__}: {exc}") from exc  # a timeout, a dropped line
        except (TelegramServerError, TimeoutError) as exc:
            raise TemporaryFailure(f"telegram: {type(exc).__name__}: {exc}") from exc
        except TelegramAPIError as exc:  # 400 chat not found, message too long, bad markup, ...
            raise PermanentFailure(f"telegram: {exc.message}") from exc

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        await self.send(address, notice.message())

    async def aclose(self) -> None:
        await self.bot.session.close()
