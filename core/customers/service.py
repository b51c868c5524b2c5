"""Identities: who is talking to us (a Telegram user, a web chat session), and what other domains may ask
about a utility account. Binding an account to an identity is core.customers.account_binding."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.customers.repository import (
    AccountRepository,
    IdentityRepository,
)
from core.errors import InvalidInput, NotFound
from core.models import Conversation, Identity
from core.models.enums import ChatChannel, Language, values


def language_from_code(language_code: str | None) -> str:
    """Telegram's language_code → our language: English for en*, Chinese otherwise (the default)."""
    return "en" if (language_code or "").lower().startswith("en") else "zh"


class IdentityService:
    """Who is talking to us: a web chat session or a Telegram user. Built once; a session per call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def start_web_session(self, session: AsyncSession, language: str = "zh") -> Identity:
        """A new web chat session: an anonymous identity (nothing bound yet) with an open conversation."""
        if language not in values(Language):
            raise InvalidInput(f"language must be one of {', '.join(values(Language))}", field="language")
        now = self.clock.now()
        identity = Identity(
            channel=ChatChannel.WEB,
            external_id=uuid.uuid4().hex,
            language=Language(language),
            created_at=now,
            last_seen_at=now,
        )
        IdentityRepository(session).add(identity)
        await session.flush()
        session.add(Conversation(identity_id=identity.id, channel=ChatChannel.WEB, created_at=now, last_message_at=now))
        await session.flush()
        return identity

    async def web_identity(self, session: AsyncSession, session_id: str) -> Identity:
        """The identity of a web chat session; NotFound for a session that was never started."""
        identity = await IdentityRepository(session).by_external_id(ChatChannel.WEB, session_id)
        if identity is None:
            raise NotFound("no such chat session", field="session_id")
        return identity

    async def web_turn(self, session: AsyncSession, session_id: str) -> tuple[Identity, Conversation | None]:
        """The identity of a web chat session and its latest conversation, in one query (the bound accounts
        come with them, kept for the turn: IdentityRepository.for_turn); NotFound for a session never started."""
        found = await IdentityRepository(session).for_turn(ChatChannel.WEB, session_id)
        if found is None:
            raise NotFound("no such chat session", field="session_id")
        identity, conversation, _ = found
        return identity, conversation

    async def telegram_identity(
        self, session: AsyncSession, *, user_id: int, chat_id: int | None, language_code: str | None
    ) -> Identity:
        """The identity of a Telegram user, created on first contact (in the language their app uses).

        `chat_id` is the user's private chat with the bot when the update came from it, else None (a group, a
        channel). Only a private chat sets the chat notices go to, and a message there proves the user has not
        blocked the bot: an earlier block is lifted, for the identity and for a key-account contact reached in
        that chat. An update from anywhere else changes neither.
        """
        repo = IdentityRepository(session)
        identity = await repo.by_external_id(ChatChannel.TELEGRAM, str(user_id))
        if identity is None:
            identity = repo.add(
                Identity(
                    channel=ChatChannel.TELEGRAM,
                    external_id=str(user_id),
                    telegram_chat_id=chat_id,
                    language=Language(language_from_code(language_code)),
                    created_at=self.clock.now(),
                )
            )
            await session.flush()
        if chat_id is None:
            return identity
        if identity.telegram_chat_id != chat_id:
            identity.telegram_chat_id = chat_id
        if identity.blocked_at is not None:
            identity.blocked_at = None
        await repo.set_contacts_telegram_blocked(chat_id, None)
        return identity

    async def telegram_chat_blocked(self, session: AsyncSession, *, user_id: int, chat_id: int, blocked: bool) -> None:
        """The user blocked the bot in their private chat (Telegram's my_chat_member, status "kicked"), or
        unblocked it ("member"): the identity and the key-account contacts of that chat are marked at once, so
        no notice is tried on a blocked chat and the first one after unblocking goes out."""
        repo = IdentityRepository(session)
        at = self.clock.now() if blocked else None
        identity = await repo.by_external_id(ChatChannel.TELEGRAM, str(user_id))
        if identity is not None:
            identity.telegram_chat_id = chat_id
            if (identity.blocked_at is None) == blocked:
                identity.blocked_at = at
        await repo.set_contacts_telegram_blocked(chat_id, at)


def set_language(identity: Identity, language: str) -> None:
    if language not in values(Language):
        raise InvalidInput(f"language must be one of {', '.join(values(Language))}", field="language")
    identity.language = Language(language)


class CustomerAccounts:
    """What other domains ask about a utility account (read-only). Built once; a session per call."""

    async def is_key_account(self, session: AsyncSession, account_id: int) -> bool:
        return await AccountRepository(session).is_key_account(account_id)
