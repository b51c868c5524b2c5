"""Storing what customers tell us about the service. Built once per process; a session per call."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.feedback.repository import FeedbackRepository
from core.feedback.sentiment import sentiment_of
from core.models import Conversation, Feedback


class FeedbackService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def comment(self, session: AsyncSession, conversation: Conversation, text: str) -> Feedback:
        """A free-text comment written in the chat (no score), with the sentiment of its words (a lexicon's
        reading, core.feedback.sentiment). Flushed (it has an id), not committed."""
        feedback = FeedbackRepository(session).add(
            Feedback(
                conversation_id=conversation.id,
                identity_id=conversation.identity_id,
                score=None,
                comment=text,
                sentiment=sentiment_of(text),
                created_at=self.clock.now(),
            )
        )
        await session.flush()
        return feedback
