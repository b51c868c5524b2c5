"""Which updates are handled at all, a database session per update (committed when the update is handled),
the actions that wait for that commit, and the identity of the sender."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.types.update import UpdateTypeLookupError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.customers.service import IdentityService
from core.db import session_scope
from core.security import mask_digits

log = logging.getLogger("gridtalk.bot")

# What an aiogram middleware calls next (the next middleware, or the handler).
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


# The update kinds the bot answers (each has handlers in bot/handlers.py), from a private chat only.
HANDLED_UPDATES = frozenset({"message", "callback_query", "my_chat_member"})


class PrivateUpdatesOnly(BaseMiddleware):
    """The first outer middleware: anything but a message, a button or a block/unblock from a person in their
    private chat with the bot is dropped quietly, before throttling, the database and the identity.

    So an edited message, a channel post, an inline query, a poll, a reaction, a join request, a kind this
    aiogram does not know yet, or anything from a group, is never answered (never into a group) and never
    touches a customer's identity: a button pressed in a group cannot move their notices to that group.
    """

    async def __call__(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update) and not self.handled(event, data):
            return None
        return await handler(event, data)

    @staticmethod
    def handled(update: Update, data: dict[str, Any]) -> bool:
        try:
            kind = update.event_type
        except UpdateTypeLookupError:  # a kind newer than this aiogram
            log.debug("update %s of an unknown kind ignored", update.update_id)
            return False
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if kind not in HANDLED_UPDATES or user is None or user.is_bot or chat is None or chat.type != ChatType.PRIVATE:
            log.debug("update %s (%s) ignored", update.update_id, kind)
            return False
        return True


class AfterCommit:
    """What an update does once its writes are committed: the Bot API calls (the replies) and the FSM state.

    Handlers queue actions with `add`; DbSessionMiddleware runs them, in order, after the commit, and never
    when the handler raised (the transaction rolled back: nothing is sent and the state stays as it was).
    A failing action is logged and the rest still run: a reply Telegram refused does not undo the turn.
    """

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def add(self, what: str, action: Callable[[], Awaitable[object]]) -> None:
        """Queue `action`; `what` names it in the log if it fails (ids and method names, no customer text)."""
        self._actions.append((what, action))

    def __len__(self) -> int:
        return len(self._actions)

    async def run(self) -> None:
        actions, self._actions = self._actions, []
        for what, action in actions:
            try:
                await action()
            except Exception as exc:  # logged; the customer's turn is already committed
                log.warning("after commit: %s failed: %s: %s", what, type(exc).__name__, mask_digits(str(exc)))
                log.debug("after commit: %s failed", what, exc_info=True)


class DbSessionMiddleware(BaseMiddleware):
    """One unit of work per update: committed when the handler returns, rolled back when it raises.

    Handlers get `session` and `after_commit` (an AfterCommit): the replies and the FSM state are queued there
    and go out only once the transaction has committed, so a Bot API failure cannot roll back a customer's
    fault report, and no database lock is held across a Bot API round trip.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        after_commit = AfterCommit()
        async with session_scope(self.sessionmaker) as session:
            data["session"] = session
            data["after_commit"] = after_commit
            result = await handler(event, data)
        # committed (a raise above rolled back and skips this: nothing is sent, the state is not saved)
        await after_commit.run()
        return result


class IdentityMiddleware(BaseMiddleware):
    """i18n: the sender's Identity (created on first contact in the language their Telegram app uses; later
    the one they chose), handed to handlers as `identity`; replies are rendered in identity.language.

    For messages and buttons, after PrivateUpdatesOnly: the chat is the user's private chat, which becomes the
    chat notices go to, and lifts an earlier block (IdentityService.telegram_identity). A block or unblock
    (my_chat_member) is its handler's business: no identity is made for it here.
    """

    def __init__(self, identities: IdentityService) -> None:
        self.identities = identities

    async def __call__(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None  # nobody to talk to
        if isinstance(event, Update) and event.message is None and event.callback_query is None:
            return await handler(event, data)
        chat: Chat | None = data.get("event_chat")
        private = chat is not None and chat.type == ChatType.PRIVATE
        identity = await self.identities.telegram_identity(
            data["session"],
            user_id=user.id,
            chat_id=chat.id if chat is not None and private else None,
            language_code=user.language_code,
        )
        data["identity"] = identity
        data["language"] = identity.language
        return await handler(event, data)
