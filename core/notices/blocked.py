"""After a route failed for good: who is marked blocked, and which drafts replace the notice.

A 403 (the recipient blocked the bot) marks an identity blocked (no Telegram notices to it until they write
to the bot again or unblock it: bot/middlewares.py), or a key-account contact's Telegram blocked; the
contact then gets the same notice on the routes they have left (email; SMS when there is no email), through
the same routing function as every other draft.

A key-account contact whose every route failed (Telegram blocked or refused, the email bounced for good) gets
the notice by SMS, the last resort, when a gateway is configured and they have a phone.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import NoticeDelivery
from core.models.enums import DeliveryChannel, Tier
from core.notices.audiences import AudienceRepository
from core.notices.outbox import ContactKey, ContactPoint, DeliveryDraft, Recipient, Route, Subject, routes
from core.notices.queue_repository import QueueRepository
from core.notices.repository import OutboxRepository

log = logging.getLogger("gridtalk.notices.dispatcher")


async def after_unreached(
    session: AsyncSession,
    now: datetime,
    channels: Collection[str],
    *,
    blocked: list[NoticeDelivery],
    failed: list[NoticeDelivery],
) -> None:
    """Mark who blocked the bot, and queue what replaces the notices that did not reach a key-account contact:
    the routes left after a 403, or an SMS once every route failed."""
    audiences = AudienceRepository(session)
    telegram = [d for d in blocked if d.channel == DeliveryChannel.TELEGRAM]
    await audiences.mark_identities_blocked(
        [d.telegram_chat_id for d in telegram if d.identity_id is not None and d.telegram_chat_id is not None], now
    )
    contact_rows = [d for d in telegram if _of_contact(d)]
    if contact_rows:
        await audiences.mark_contacts_blocked([d.key_contact_id for d in contact_rows if d.key_contact_id], now)
    outbox, queue = OutboxRepository(session), QueueRepository(session)
    wanted = [d.key_contact_id for d in (*contact_rows, *failed) if d.key_contact_id and _of_contact(d)]
    if not wanted:
        return
    contacts = await audiences.contacts(wanted)
    drafts: list[DeliveryDraft] = []
    for d in contact_rows:
        if (contact := contacts.get(d.key_contact_id or 0)) is not None:
            point = ContactPoint(None, contact.email, contact.phone, telegram_blocked=True)
            left = routes(point, channels, email_always=True)
            if not left:
                log.warning("key-account contact %s blocked the bot and has no other route: not reachable", contact.id)
            drafts += _redrafts(d, left, now)
    await outbox.store(drafts, now)
    # the last resort, once the routes above are stored: nothing else of this message is sent or on its way
    texts: dict[tuple[str, int, str, str, str, int], DeliveryDraft] = {}
    for d in (*contact_rows, *failed):
        if not _of_contact(d) or d.channel == DeliveryChannel.SMS or await queue.still_reaching(d):
            continue
        contact = contacts.get(d.key_contact_id or 0)
        if contact is not None and contact.phone and DeliveryChannel.SMS in channels:
            log.warning("key-account contact %s not reached by %s: sending the notice by SMS", contact.id, d.channel)
            for draft in _redrafts(d, (Route(DeliveryChannel.SMS, contact.phone),), now):
                texts[draft.unique_key] = draft  # both routes of one person may fail in one batch: one SMS
        elif contact is not None:
            log.warning("key-account contact %s not reached by %s and no SMS route is left", contact.id, d.channel)
    await outbox.store(texts.values(), now)


def _of_contact(row: NoticeDelivery) -> bool:
    return row.key_contact_id is not None and row.tier != Tier.STAFF


def _redrafts(row: NoticeDelivery, left: tuple[Route, ...], now: datetime) -> Iterable[DeliveryDraft]:
    """The same message as `row` (subject, purpose, round, due time, deadline) on the routes `left`."""
    if not left:
        return ()
    person = Recipient(
        key=ContactKey.parse(row.contact_key),
        tier=Tier(row.tier),
        segment=row.segment,
        language=row.language,
        routes=left,
        account_id=row.account_id,
        key_contact_id=row.key_contact_id,
        priority=row.priority,
    )
    subject = Subject(row.subject_kind, row.subject_id)
    return person.drafts(
        subject, row.stage, due_at=row.due_at, release_at=now, revision=row.revision, deadline=row.deadline_at
    )
