"""The SQL of conversations and their transcript (every message in and out, with what the NLU understood)."""

from __future__ import annotations

from sqlalchemy import select

from core.db.repository import RepositoryBase
from core.models import Conversation, Message
from core.models.enums import Direction


class ConversationRepository(RepositoryBase[Conversation]):
    model = Conversation

    async def latest(self, identity_id: int) -> Conversation | None:
        return await self.session.scalar(
            select(Conversation)
            .where(Conversation.identity_id == identity_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )


class MessageRepository(RepositoryBase[Message]):
    model = Message

    async def after(self, identity_id: int, after_id: int, limit: int) -> list[Message]:
        """Every message of the identity's conversations with an id above `after_id`, oldest first."""
        rows = await self.session.scalars(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.identity_id == identity_id, Message.id > after_id)
            .order_by(Message.id)
            .limit(limit)
        )
        return list(rows)

    async def of_conversation(self, conversation_id: int, limit: int = 500) -> list[Message]:
        """A conversation's transcript, oldest first (its latest `limit` messages)."""
        rows = await self.session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id.desc()).limit(limit)
        )
        return list(reversed(list(rows)))

    async def by_ids(self, ids: set[int]) -> dict[int, Message]:
        rows = await self.session.scalars(select(Message).where(Message.id.in_(sorted(ids))))
        return {m.id: m for m in rows}

    async def recent_buttons(self, conversation_id: int, limit: int = 5) -> list[list[dict[str, str]]]:
        """The buttons of the conversation's latest outgoing messages, newest first."""
        rows = await self.session.scalars(
            select(Message.buttons)
            .where(Message.conversation_id == conversation_id, Message.direction == Direction.OUT)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return [list(buttons or []) for buttons in rows]
