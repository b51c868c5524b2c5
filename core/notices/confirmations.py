"""The final confirmation, the two-way step: a customer confirms a notice (the Confirm button, or writing
"已收到"), or reports a problem (the Problem button: an escalation to the account manager); a final
confirmation nobody at a key account answered in time is chased (the manager is alerted).

Who may answer a notice: the identity it went to, or whoever writes from the Telegram chat it went to
(key-account contacts are not identities: their chat id is what ties an answer to their notice).
Built once per process; every call takes the caller's session and flushes, never commits. Alerts to
managers are outbox drafts like every notice, so they are as durable and rate-limited as the rest.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound
from core.models import Escalation, Identity, NoticeDelivery
from core.models.enums import (
    AlertKind,
    DeliveryStatus,
    EscalationState,
    OutageStatus,
    Priority,
    Segment,
    Stage,
    Tier,
)
from core.notices.audiences import AudienceRepository, KeyAccountInfo
from core.notices.confirmation_repository import ConfirmationRepository
from core.notices.outbox import (
    ContactKey,
    ContactPoint,
    DeliveryDraft,
    Recipient,
    Subject,
    available_channels,
    routes,
)
from core.notices.render import NoticeRenderer, parse_payload
from core.notices.repository import OutboxRepository
from core.outages.queries import OutageQueries
from core.outages.repository import OutageRepository
from core.ports import OutgoingMessage

if TYPE_CHECKING:
    from core.notices.restoration import StillNoPower

log = logging.getLogger("gridtalk.notices")

ANSWERABLE = (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.ACKED)
PROBLEM_REASON = "notice_problem"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What happened, for the reply: the notice answered, whether it was already, the key account (if any)
    and, for a problem, the escalation recorded."""

    delivery_id: int
    outage_id: int
    stage: str
    acked_at: datetime | None
    already: bool
    key_account: KeyAccountInfo | None
    escalation_id: int | None = None


def owned(delivery: NoticeDelivery, identity_id: int | None, chat_id: int | None) -> bool:
    """Whether a notice went to this person: to the identity, or to the Telegram chat they write from."""
    if identity_id is not None and delivery.identity_id == identity_id:
        return True
    return chat_id is not None and delivery.channel == "telegram" and delivery.telegram_chat_id == chat_id


class ConfirmationService:
    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings
        self.channels = available_channels(settings)

    async def acknowledge(
        self, session: AsyncSession, delivery_id: int, *, identity_id: int | None = None, chat_id: int | None = None
    ) -> Confirmation:
        """The Confirm button: the notice (on every channel it went on to this person) is acked. Idempotent."""
        delivery = await self._answerable(session, delivery_id, identity_id, chat_id)
        return await self._ack(session, delivery)

    async def acknowledge_latest_open(
        self, session: AsyncSession, *, identity_id: int | None = None, chat_id: int | None = None
    ) -> Confirmation | None:
        """ "已收到" in free text (the outage_ack intent): the latest open final confirmation is acked, or else
        the latest open notice. None when nothing is waiting for this person's confirmation."""
        open_notices = await ConfirmationRepository(session).open_for(
            identity_id=identity_id, chat_id=chat_id, stages=None, now=self.clock.now()
        )
        if not open_notices:
            return None
        finals = [d for d in open_notices if d.stage == Stage.FINAL]
        return await self._ack(session, (finals or open_notices)[0])

    async def report_problem(
        self, session: AsyncSession, delivery_id: int, *, identity_id: int | None = None, chat_id: int | None = None
    ) -> Confirmation:
        """The Problem button: a high-priority escalation (reason notice_problem) for the key account's
        manager, who is also alerted through the outbox. Pressing it again changes nothing."""
        delivery = await self._answerable(session, delivery_id, identity_id, chat_id)
        outbox = OutboxRepository(session)
        key = await self._key_account(session, delivery)
        outage_id = delivery.subject_id
        existing = await ConfirmationRepository(session).open_problem(delivery.id)
        if existing is not None:
            return Confirmation(delivery.id, outage_id, delivery.stage, delivery.acked_at, True, key, existing.id)
        now = self.clock.now()
        escalation = Escalation(
            identity_id=identity_id if identity_id is not None else delivery.identity_id,
            delivery_id=delivery.id,
            reason=PROBLEM_REASON,
            priority=Priority.HIGH,
            state=EscalationState.ASSIGNED if key else EscalationState.PENDING,
            assigned_to_id=key.manager_id if key else None,
            created_at=now,
        )
        session.add(escalation)
        await session.flush()
        if key is not None:
            manager = self._manager(key, about=f"d{delivery.id}", key_contact_id=delivery.key_contact_id)
            drafts = manager.drafts(
                Subject.outage(outage_id), AlertKind.PROBLEM, due_at=now, release_at=now, revision=delivery.revision
            )
            await outbox.store(drafts, now)
        return Confirmation(delivery.id, outage_id, delivery.stage, delivery.acked_at, False, key, escalation.id)

    async def chase_unconfirmed(self, session: AsyncSession) -> int:
        """Worker job: key accounts whose final confirmation nobody answered within notice_confirm_minutes of
        its sending: their deliveries are marked (shown as unconfirmed) and the account manager is alerted.
        Once per account and round. Returns how many accounts were chased."""
        now = self.clock.now()
        outbox = OutboxRepository(session)
        rows = await ConfirmationRepository(session).unconfirmed(
            now - timedelta(minutes=self.settings.notice_confirm_minutes)
        )
        by_account: dict[tuple[int, int, int], list[NoticeDelivery]] = defaultdict(list)
        for row in rows:
            if row.account_id is not None:
                by_account[(row.subject_id, row.account_id, row.revision)].append(row)
        keys = await AudienceRepository(session).key_accounts({account_id for _, account_id, _ in by_account})
        alerts: list[DeliveryDraft] = []
        for (outage_id, account_id, revision), unanswered in by_account.items():
            for row in unanswered:
                row.unconfirmed_alerted_at = now
            key = keys.get(account_id)
            if key is None:
                continue
            manager = self._manager(key, about=f"a{account_id}")
            alerts += manager.drafts(
                Subject.outage(outage_id), AlertKind.UNCONFIRMED, due_at=now, release_at=now, revision=revision
            )
        await session.flush()
        await outbox.store(alerts, now)
        return len(by_account)

    def _manager(self, key: KeyAccountInfo, *, about: str, key_contact_id: int | None = None) -> Recipient:
        """A key account's manager as an outbox recipient: Telegram and email (whichever they have)."""
        point = ContactPoint(telegram_chat_id=key.manager_chat_id, email=key.manager_email)
        return Recipient(
            key=ContactKey.staff(key.manager_id, about),
            tier=Tier.STAFF,
            segment=Segment.KEY_ACCOUNT,
            language=key.manager_language,
            routes=routes(point, self.channels, email_always=True),
            account_id=key.account_id,
            key_contact_id=key_contact_id,
        )

    async def _answerable(
        self, session: AsyncSession, delivery_id: int, identity_id: int | None, chat_id: int | None
    ) -> NoticeDelivery:
        delivery = await OutboxRepository(session).get(delivery_id)
        if delivery is None or delivery.tier == Tier.STAFF or not owned(delivery, identity_id, chat_id):
            raise NotFound("no such notice for you")  # the same answer whether it exists or is someone else's
        if delivery.status not in ANSWERABLE:
            raise Conflict("this notice was not sent to you")
        outage = await OutageRepository(session).get(delivery.subject_id)
        if outage is None or outage.status != OutageStatus.PUBLISHED:
            raise Conflict("this outage is no longer planned")
        return delivery

    async def _ack(self, session: AsyncSession, delivery: NoticeDelivery) -> Confirmation:
        now = self.clock.now()
        already = delivery.status == DeliveryStatus.ACKED
        if not already:
            for row in await ConfirmationRepository(session).same_notice(delivery):
                if row.status in (DeliveryStatus.SENDING, DeliveryStatus.SENT):
                    row.status = DeliveryStatus.ACKED
                    row.acked_at = now
                    row.sent_at = row.sent_at or now
                    row.next_attempt_at = None
            await session.flush()
        key = await self._key_account(session, delivery)
        return Confirmation(delivery.id, delivery.subject_id, delivery.stage, delivery.acked_at, already, key)

    @staticmethod
    async def _key_account(session: AsyncSession, delivery: NoticeDelivery) -> KeyAccountInfo | None:
        if delivery.tier != Tier.KEY_ACCOUNT or delivery.account_id is None:
            return None
        return (await AudienceRepository(session).key_accounts([delivery.account_id])).get(delivery.account_id)


# ----------------------------------------------------------------------------- the dialogue's seam


class NoticeConfirmationResponder:
    """core.dialogue.notices.NoticeResponder: answers the notice buttons ("notice:ack:<id>",
    "notice:problem:<id>", a fault's "notice:nopower:<id>") and the outage_ack intent, in the customer's
    language."""

    def __init__(
        self, confirmations: ConfirmationService, renderer: NoticeRenderer, still_no_power: StillNoPower
    ) -> None:
        self.confirmations = confirmations
        self.renderer = renderer
        self.still_no_power = still_no_power

    async def on_payload(
        self, session: AsyncSession, identity: Identity, payload: str, language: str
    ) -> list[OutgoingMessage] | None:
        parsed = parse_payload(payload)
        if parsed is None:
            return None
        kind, delivery_id = parsed
        if kind == "nopower":
            return await self._no_power(session, identity, delivery_id, language)
        who = {"identity_id": identity.id, "chat_id": identity.telegram_chat_id}
        try:
            if kind == "ack":
                done = await self.confirmations.acknowledge(session, delivery_id, **who)
            else:
                done = await self.confirmations.report_problem(session, delivery_id, **who)
        except (NotFound, Conflict):
            return None  # the dialogue says nothing is waiting for a confirmation
        return [await self._reply(session, done, "acked" if kind == "ack" else "problem_reported", language)]

    async def on_told(self, session: AsyncSession, identity: Identity, outage_ids: Sequence[int]) -> None:
        skipped = await OutboxRepository(session).skip_told_in_chat(outage_ids, str(ContactKey.identity(identity.id)))
        if skipped:
            log.info("%d fault notices not sent: told in the chat", skipped)

    async def on_ack_text(
        self, session: AsyncSession, identity: Identity, text: str, language: str
    ) -> list[OutgoingMessage] | None:
        done = await self.confirmations.acknowledge_latest_open(
            session, identity_id=identity.id, chat_id=identity.telegram_chat_id
        )
        if done is None:
            return None
        return [await self._reply(session, done, "acked", language)]

    async def _no_power(
        self, session: AsyncSession, identity: Identity, delivery_id: int, language: str
    ) -> list[OutgoingMessage] | None:
        description = self.renderer.renderer.render("notices/no_power_description", language).strip()
        done = await self.still_no_power.report(session, identity, delivery_id, description)
        if done is None:
            return None
        facts = await OutageQueries().facts(session, done.outage_id)
        text = self.renderer.renderer.render(
            "notices/no_power_ticket",
            language,
            outage=facts.context(language),
            ticket=done.ticket,
            already=done.already,
        )
        return [OutgoingMessage(text)]

    async def _reply(self, session: AsyncSession, done: Confirmation, template: str, language: str) -> OutgoingMessage:
        facts = await OutageQueries().facts(session, done.outage_id)
        return OutgoingMessage(self.renderer.reply(template, language, facts, key=done.key_account))
