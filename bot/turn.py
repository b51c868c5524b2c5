"""One customer's turn in Telegram: what a handler needs to hand an update to the dialogue and queue the replies,
built once per update (TurnMiddleware) instead of asked for, item by item, by every handler."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import keyboard
from bot.middlewares import AfterCommit, Handler
from bot.state import FsmStateStore
from core.dialogue.service import ConversationService, Incoming
from core.models import Identity


@dataclass(frozen=True, slots=True)
class Turn:
    bot: Bot
    session: AsyncSession
    identity: Identity
    state: FSMContext
    conversations: ConversationService
    after_commit: AfterCommit

    async def answer(self, chat_id: int, incoming: Incoming) -> None:
        """The dialogue writes in the update's transaction; the replies, then the new FSM state, are queued to go
        out after it commits (a reply Telegram refuses is logged and does not undo the turn)."""
        store = FsmStateStore(self.state)
        result = await self.conversations.handle(self.session, self.identity, incoming, store)
        total = len(result.replies)
        for number, reply in enumerate(result.replies, 1):
            self.after_commit.add(
                f"sendMessage to chat {chat_id} (reply {number} of {total})",
                partial(self.bot.send_message, chat_id, reply.text, reply_markup=keyboard(reply.buttons)),
            )
        for what, action in result.after_commit:  # e.g. an SMS with a binding code: also only once committed
            self.after_commit.add(what, action)
        self.after_commit.add(f"saving the FSM state of chat {chat_id}", store.write)


class TurnMiddleware(BaseMiddleware):
    """The last outer middleware: an update from a customer (IdentityMiddleware found them) gets its Turn, handed
    to handlers as `turn`, from the bot, the update's session and after-commit queue, the identity, the FSM
    context and the conversation service."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if "identity" in data:
            data["turn"] = Turn(
                bot=data["bot"],
                session=data["session"],
                identity=data["identity"],
                state=data["state"],
                conversations=data["conversations"],
                after_commit=data["after_commit"],
            )
        return await handler(event, data)
