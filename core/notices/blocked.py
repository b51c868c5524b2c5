"""After a 403 (the recipient blocked the bot): who is marked blocked, and which drafts replace the notice.

An identity is marked blocked (no more Telegram notices to it). A key-account contact's Telegram is marked
blocked and the same notice goes to them on the routes they have left (email, SMS), through the same
routing function as every other draft.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import NoticeDelivery
from core.models.enums import DeliveryChannel, Tier
from core.notices.audiences import AudienceRepository
from core.notices.outbox import ContactKey, ContactPoint, DeliveryDraft, Recipient, Subject, routes
from core.notices.repository import OutboxRepository

log = logging.getLogger("gridtalk.notices.dispatcher")


async def after_blocked(
    session: AsyncSession, now: datetime, channels: Collection[str], blocked: list[NoticeDelivery]
) -> None:
    audiences = AudienceRepository(session)
    telegram = [d for d in blocked if d.channel == DeliveryChannel.TELEGRAM]
    await audiences.mark_identities_blocked(
        [d.telegram_chat_id for d in telegram if d.identity_id is not None and d.telegram_chat_id is not None], now
    )
    contact_rows = [d for d in telegram if d.key_contact_id is not None and d.tier != Tier.STAFF]
    if not contact_rows:
        return
    ids = [d.key_contact_id for d in contact_rows if d.key_contact_id]
    await audiences.mark_contacts_blocked(ids, now)
    contacts = await audiences.contacts(ids)
    drafts: list[DeliveryDraft] = []
    for d in contact_rows:
        contact = contacts.get(d.key_contact_id or 0)
        if contact is None:
            continue
        point = ContactPoint(None, contact.email, contact.phone, telegram_blocked=True)
        left = routes(point, channels, email_always=True)
        if not left:
            log.warning("key-account contact %s blocked the bot and has no other route: not reachable", contact.id)
            continue
        person = Recipient(
            key=ContactKey.parse(d.contact_key),
            tier=Tier(d.tier),
            segment=d.segment,
            language=d.language,
            routes=left,
            account_id=d.account_id,
            key_contact_id=d.key_contact_id,
            priority=d.priority,
        )
        subject = Subject(d.subject_kind, d.subject_id)
        drafts += person.drafts(
            subject, d.stage, due_at=d.due_at, release_at=now, revision=d.revision, deadline=d.deadline_at
        )
    await OutboxRepository(session).store(drafts, now)
