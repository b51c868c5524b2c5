"""Telegram handlers: each turns an update into one Incoming, makes one service call, sends the replies.

The replies (and the new FSM state) are not sent from inside the update's transaction: `turn` (bot/turn.py) queues
them on the update's after-commit queue (bot/middlewares.py), and they go out once the transcript, tickets and
escalations are committed.

Private chats only: answers are about a customer's own account and must not be shown in a group. The update
kinds answered are messages (text; a photo, fetched through the Bot API, or a location: taken with a fault
report; anything else gets the "text only" reply), buttons, and my_chat_member (the user blocked or unblocked
the bot); bot/middlewares.py PrivateUpdatesOnly drops every other update quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, ErrorEvent, Message, PhotoSize
from aiohttp import ClientError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.turn import Turn
from core.config import Settings
from core.customers.service import IdentityService, language_from_code
from core.dialogue.service import Incoming
from core.errors import InvalidInput
from core.faults.attachments import MAX_PHOTO_BYTES, Location, Photo
from core.templating import Renderer

log = logging.getLogger("gridtalk.bot")


def payload_command(payload: str) -> Callable[..., Awaitable[None]]:
    """A command that stands for a button: /start, /help, /menu and /language."""

    async def handler(message: Message, turn: Turn) -> None:
        await turn.answer(message.chat.id, Incoming(payload=payload))

    handler.__name__ = f"command_{payload}"
    return handler


async def bind(message: Message, command: CommandObject, turn: Turn) -> None:
    digits = "".join(ch for ch in (command.args or "") if ch.isdigit())
    await turn.answer(message.chat.id, Incoming(payload=f"bind:{digits}" if len(digits) == 10 else "bind"))


async def button(callback: CallbackQuery, turn: Turn) -> None:
    turn.after_commit.add(f"answerCallbackQuery {callback.id}", partial(turn.bot.answer_callback_query, callback.id))
    chat_id = callback.message.chat.id if callback.message is not None else callback.from_user.id
    await turn.answer(chat_id, Incoming(payload=callback.data))


async def text(message: Message, turn: Turn) -> None:
    await turn.answer(message.chat.id, Incoming(text=message.text))


async def fetch_photo(bot: Bot, sizes: Sequence[PhotoSize]) -> Photo:
    """The largest size of a photo (within MAX_PHOTO_BYTES), fetched through the Bot API (getFile, then the
    file's download path). When it cannot be fetched only its file id is kept (logged)."""
    fitting = [s for s in sizes if s.file_size is None or s.file_size <= MAX_PHOTO_BYTES]
    size = max(fitting or sizes, key=lambda s: (s.width * s.height, s.file_size or 0))
    try:
        if not fitting:
            raise InvalidInput(f"every size of the photo is over {MAX_PHOTO_BYTES} bytes")
        file = await bot.get_file(size.file_id)
        if file.file_path is None or (file.file_size or 0) > MAX_PHOTO_BYTES:
            raise InvalidInput("the Bot API offers no download of this photo within the size limit")
        buffer = await bot.download_file(file.file_path)
        content = buffer.read() if buffer is not None else b""
        return Photo(content, "image/jpeg", size.file_id)
    except (TimeoutError, TelegramAPIError, ClientError, InvalidInput) as exc:
        # the type only: a download error's text may carry the file URL, which carries the bot's token
        log.warning("could not fetch photo %s: %s", size.file_unique_id, type(exc).__name__)
        return Photo(None, file_id=size.file_id)


async def photo(message: Message, turn: Turn) -> None:
    """A photo (and its caption): fetched, then handed to the dialogue (a fault report takes it)."""
    attachment = await fetch_photo(turn.bot, message.photo or [])
    await turn.answer(message.chat.id, Incoming(text=message.caption, attachment=attachment))


async def location(message: Message, turn: Turn) -> None:
    """A shared location (or a venue's): handed to the dialogue (a fault report takes it, also as the place)."""
    assert message.location is not None  # the filter F.location
    attachment = Location(message.location.latitude, message.location.longitude)
    await turn.answer(message.chat.id, Incoming(attachment=attachment))


async def anything_else(message: Message, turn: Turn) -> None:
    await turn.answer(message.chat.id, Incoming(payload="unsupported"))


async def chat_member(update: ChatMemberUpdated, session: AsyncSession, identities: IdentityService) -> None:
    """The user blocked the bot (status kicked) or unblocked it (member) in their private chat."""
    status = update.new_chat_member.status
    if status not in (ChatMemberStatus.KICKED, ChatMemberStatus.MEMBER):
        return
    blocked = status == ChatMemberStatus.KICKED
    log.info("user %s %s the bot", update.from_user.id, "blocked" if blocked else "unblocked")
    await identities.telegram_chat_blocked(
        session, user_id=update.from_user.id, chat_id=update.chat.id, blocked=blocked
    )


async def on_error(event: ErrorEvent, bot: Bot, renderer: Renderer, settings: Settings) -> None:
    """Something unexpected (the database is down, a bug): log it and tell the customer politely.

    The update's transaction was rolled back and its queued replies dropped (nothing after_commit ran), so
    this is the only answer the customer gets; a pressed button's spinner is stopped here too.
    """
    log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
    if event.update.callback_query is not None:
        try:
            await bot.answer_callback_query(event.update.callback_query.id)
        except Exception:  # too old, or Telegram is down: the error message below is what matters
            log.warning("could not answer callback query %s", event.update.callback_query.id)
    source = event.update.message or (event.update.callback_query.message if event.update.callback_query else None)
    user = event.update.message.from_user if event.update.message else None
    if event.update.callback_query is not None:
        user = event.update.callback_query.from_user
    if source is None or user is None or source.chat.type != ChatType.PRIVATE:
        return  # nobody to tell, or a group: nothing is ever said there
    text = renderer.render(
        "dialogue/error", language_from_code(user.language_code), code="internal", hotline=settings.service_hotline
    )
    try:
        await bot.send_message(source.chat.id, text)
    except Exception:  # the customer cannot be told; the error is logged above
        log.warning("could not tell chat %s about the error", source.chat.id)


def make_router() -> Router:
    """The handlers, on a new Router (a router belongs to one Dispatcher). Private chats only."""
    router = Router(name="conversations")
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    router.my_chat_member.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(payload_command("start"), CommandStart())
    router.message.register(payload_command("help"), Command("help"))
    router.message.register(payload_command("menu"), Command("menu"))
    router.message.register(payload_command("lang"), Command("language"))
    router.message.register(bind, Command("bind"))
    router.callback_query.register(button, F.data)
    router.message.register(text, F.text)
    router.message.register(photo, F.photo)
    router.message.register(location, F.location)
    router.message.register(anything_else)
    router.my_chat_member.register(chat_member)
    router.errors.register(on_error)
    return router
