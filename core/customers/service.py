from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.repository import IdentityRepository
from core.errors import InvalidInput
from core.models import Conversation, Identity
from core.models.customers import LANGUAGES


async def start_web_session(session: AsyncSession, clock: Clock, language: str = "zh") -> Identity:
    """A new web chat session: an anonymous identity (nothing bound yet) with an open conversation."""
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    now = clock.now()
    identity = Identity(
        channel="web", external_id=uuid.uuid4().hex, language=language, created_at=now, last_seen_at=now
    )
    IdentityRepository(session).add(identity)
    await session.flush()
    session.add(Conversation(identity_id=identity.id, channel="web", created_at=now, last_message_at=now))
    await session.flush()
    return identity
