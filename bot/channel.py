"""TelegramChannel: messages out through the Bot API, with Telegram's failures turned into the notice
dispatcher's errors (core.notices.channels): 429 (or any answer naming retry_after) → RetryAfter, 403 →
RecipientBlocked, 401 (a wrong or revoked token) and a Bot API server that cannot be reached (connection
refused, no route, DNS) → ChannelDown: every send would fail the same way, so the dispatcher pauses the channel;
5xx, a timeout, a dropped connection and an answer that is not the Bot API's JSON → TemporaryFailure (this one
send is retried); anything else Telegram refuses → PermanentFailure.

It implements core.ports.Channel (`send(address, message)`, address = the chat id) and the notice
dispatcher's NoticeChannel (`deliver(address, notice)`). Text is sent in HTML parse mode: the templates
render HTML-escaped for it.

The send is one JSON POST of `sendMessage` on the aiogram Bot's own aiohttp session (its connection pool, its
API server, closed with it), and the answer is read as plain JSON: aiogram's per-call pydantic models (the
method object, the form encoding, the `Response[Message]` validation) cost about as much CPU as everything
else the dispatcher does for a delivery, and a notice needs none of what they give back. The JSON of one
message's text and buttons is encoded once and reused for every chat it goes to.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import ClientConnectorError, ClientError, ClientTimeout

from core.config import Settings
from core.notices.channels import ChannelDown, PermanentFailure, RecipientBlocked, RetryAfter, TemporaryFailure
from core.notices.render import RenderedNotice
from core.ports import Button, OutgoingMessage

JSON_HEADERS = {"Content-Type": "application/json"}
MAX_ENCODED = 256  # messages whose encoded JSON is kept (a claimed batch has a handful of different texts)


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


def reply_markup(buttons: tuple[Button, ...]) -> dict[str, Any] | None:
    """Buttons as the Bot API's inline keyboard (one row)."""
    if not buttons:
        return None
    return {"inline_keyboard": [[{"text": b.title, "callback_data": b.payload} for b in buttons]]}


class TelegramChannel:
    def __init__(self, bot: Bot, *, allow_paid_broadcast: bool = False, timeout: float | None = None) -> None:
        if not isinstance(bot.session, AiohttpSession):
            raise TypeError("TelegramChannel posts on the bot's AiohttpSession")
        self.bot = bot
        self.http: AiohttpSession = bot.session
        self.allow_paid_broadcast = allow_paid_broadcast
        self.timeout = timeout
        # never shorter than the dispatcher's own timeout (whole seconds, as aiogram's request_timeout has it)
        self._timeout = ClientTimeout(total=math.ceil(timeout)) if timeout else None
        self._url: str | None = None
        self._encoded: dict[tuple[str, tuple[Button, ...]], bytes] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramChannel:
        return cls(
            make_sending_bot(settings),
            allow_paid_broadcast=settings.notice_allow_paid_broadcast,
            timeout=settings.notice_send_timeout,
        )

    async def send(self, address: str, message: OutgoingMessage) -> None:
        await self._send_message(address, message.text, message.buttons)

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        await self._send_message(address, notice.html, notice.buttons)

    async def aclose(self) -> None:
        await self.http.close()

    def _body(self, chat_id: int, text: str, buttons: tuple[Button, ...]) -> bytes:
        """The sendMessage JSON: the chat id, then the message's part, encoded once per message."""
        key = (text, buttons)
        rest = self._encoded.get(key)
        if rest is None:
            fields: dict[str, Any] = {
                "text": text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
            }
            if (markup := reply_markup(buttons)) is not None:
                fields["reply_markup"] = markup
            if self.allow_paid_broadcast:
                fields["allow_paid_broadcast"] = True
            rest = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[1:].encode()
            if len(self._encoded) >= MAX_ENCODED:
                self._encoded.clear()
            self._encoded[key] = rest
        return b'{"chat_id":%d,%b' % (chat_id, rest)

    async def _send_message(self, address: str, text: str, buttons: tuple[Button, ...]) -> None:
        try:
            chat_id = int(address)
        except ValueError as exc:
            raise PermanentFailure(f"telegram: not a chat id: {address!r}") from exc
        body = self._body(chat_id, text, buttons)
        session = await self.http.create_session()
        if self._url is None:
            self._url = self.http.api.api_url(token=self.bot.token, method="sendMessage")
        try:
            async with session.post(self._url, data=body, headers=JSON_HEADERS, timeout=self._timeout) as resp:
                status, raw = resp.status, await resp.read()
        except ClientConnectorError as exc:  # the Bot API server cannot be reached at all
            raise ChannelDown(f"telegram: cannot reach the Bot API: {type(exc).__name__}: {exc}") from exc
        except (ClientError, TimeoutError) as exc:  # a timeout, a dropped line
            raise TemporaryFailure(f"telegram: {type(exc).__name__}: {exc}") from exc
        check_answer(status, raw)


def check_answer(status: int, raw: bytes) -> None:
    """Raise the dispatcher's error for a Bot API answer that is not a success (as aiogram classifies them)."""
    try:
        answer = json.loads(raw)
    except ValueError as exc:  # a proxy's error page, a cut answer: not the Bot API speaking
        raise TemporaryFailure(f"telegram: {status}: the answer is not the Bot API's JSON") from exc
    if not isinstance(answer, dict):
        raise TemporaryFailure(f"telegram: {status}: the answer is not the Bot API's JSON")
    if HTTPStatus.OK <= status <= HTTPStatus.IM_USED and answer.get("ok"):
        return
    description = str(answer.get("description") or f"error {status}")
    parameters = answer.get("parameters")
    if isinstance(parameters, dict) and parameters.get("retry_after"):
        raise RetryAfter(float(parameters["retry_after"]), f"telegram: {description}")
    if status == HTTPStatus.FORBIDDEN:
        raise RecipientBlocked(f"telegram: {description}")
    if status == HTTPStatus.UNAUTHORIZED:  # fixed by the operator (the token), after which the sends go
        raise ChannelDown(f"telegram: 401 {description}: the bot token is wrong or revoked")
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise TemporaryFailure(f"telegram: {status} {description}")
    raise PermanentFailure(f"telegram: {description}")  # 400 chat not found, message too long, bad markup, ...
