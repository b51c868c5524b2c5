"""Messages to a customer outside of a turn (a staff reply, "you are still waiting", "the bot is back"): each
is a row of the customer's transcript, so the web chat receives it (GET …/messages?after=) and staff see it;
for a Telegram customer it also goes through the outbox (subject: the message), durable and rate-limited
like every notice, sent after the commit by the worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.conversations.repository import ConversationRepository
from core.models import Conversation, Identity, Message
from core.models.enums import (
    ChatChannel,
    DeliveryChannel,
    Direction,
    Language,
    MessagePurpose,
    Segment,
    SubjectKind,
    Tier,
)
from core.notices.outbox import ContactKey, Recipient, Route, Subject
from core.notices.repository import OutboxRepository
from core.ports import Button


class CustomerMessenger:
    """Built once per process; a session per call; never commits."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def send(
        self,
        session: AsyncSession,
        identity: Identity,
        text: str,
        *,
        buttons: Sequence[Button] = (),
        staff_id: int | None = None,
        conversation: Conversation | None = None,
    ) -> Message:
        now = self.clock.now()
        if conversation is None:
            conversation = await self._conversation(session, identity)
        message = Message(
            conversation_id=conversation.id,
            channel=identity.channel,
            direction=Direction.OUT,
            text=text,
            payload=None,
            buttons=[{"title": b.title, "payload": b.payload} for b in buttons],
            intent=None,
            confidence=None,
            truncated=False,
            staff_id=staff_id,
            created_at=now,
        )
        session.add(message)
        conversation.last_message_at = now
        await session.flush()
        chat = identity.telegram_chat_id
        if identity.channel == ChatChannel.TELEGRAM and chat is not None and identity.blocked_at is None:
            person = Recipient(
                key=ContactKey.identity(identity.id),
                tier=Tier.CONVERSATION,
                segment=Segment.RESIDENTIAL,
                language=Language(identity.language),
                routes=(Route(DeliveryChannel.TELEGRAM, str(chat), chat),),
                identity_id=identity.id,
            )
            drafts = person.drafts(
                Subject(SubjectKind.MESSAGE, message.id), MessagePurpose.REPLY, due_at=now, release_at=now
            )
            await OutboxRepository(session).store(drafts, now)
        return message

    async def _conversation(self, session: AsyncSession, identity: Identity) -> Conversation:
        repo = ConversationRepository(session)
        conversation = await repo.latest(identity.id)
        if conversation is None:
            now = self.clock.now()
            conversation = repo.add(
                Conversation(identity_id=identity.id, channel=identity.channel, created_at=now, last_message_at=now)
            )
            await session.flush()
        return conversation
