"""The final confirmation, the two-way step: a customer confirms a notice (the Confirm button, or writing
"已收到"), or reports a problem (the Problem button: an escalation to the account manager); a final
confirmation nobody at a key account answered in time is chased (the manager is alerted).

Who may answer a notice: the identity it went to, or whoever writes from the Telegram chat it went to
(key-account contacts are not identities: their chat id is what ties an answer to their notice).
Services only: they flush, never commit. Alerts to managers go through the outbox like every notice, so
they are as durable and rate-limited as the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound
from core.models import Escalation, Identity, NoticeDelivery
from core.notices.planning import STAFF_PRIORITY, available_channels
from core.notices.render import NoticeRenderer, OutageFacts, parse_payload
from core.notices.repository import KEY_SEGMENT, STAFF_SEGMENT, KeyAccountInfo, NoticeRepository
from core.outages.planner import FINAL
from core.ports import OutgoingMessage
from core.templating import Renderer

ANSWERABLE = ("sending", "sent", "acked")
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


def _owned(delivery: NoticeDelivery, identity_id: int | None, chat_id: int | None) -> bool:
    if identity_id is not None and delivery.identity_id == identity_id:
        return True
    return chat_id is not None and delivery.channel == "telegram" and delivery.telegram_chat_id == chat_id


async def _answerable(
    repo: NoticeRepository, delivery_id: int, identity_id: int | None, chat_id: int | None
) -> NoticeDelivery:
    delivery = await repo.get(delivery_id)
    if delivery is None or delivery.segment == STAFF_SEGMENT or not _owned(delivery, identity_id, chat_id):
        raise NotFound("no such notice for you")  # the same answer whether it exists or is someone else's
    if delivery.status not in ANSWERABLE:
        raise Conflict("this notice was not sent to you")
    outage = await repo.outage(delivery.outage_id)
    if outage is None or outage.status != "published":
        raise Conflict("this outage is no longer planned")
    return delivery


async def acknowledge(
    session: AsyncSession,
    clock: Clock,
    delivery_id: int,
    *,
    identity_id: int | None = None,
    chat_id: int | None = None,
) -> Confirmation:
    """The Confirm button: the notice (on every channel it went on to this person) is acked. Idempotent."""
    repo = NoticeRepository(session)
    delivery = await _answerable(repo, delivery_id, identity_id, chat_id)
    return await _ack(repo, clock, delivery)


async def acknowledge_latest_open(
    session: AsyncSession, clock: Clock, *, identity_id: int | None = None, chat_id: int | None = None
) -> Confirmation | None:
    """ "已收到" in free text (the outage_ack intent): the latest open final confirmation is acked, or else the
    latest open notice. None when nothing is waiting for this person's confirmation."""
    repo = NoticeRepository(session)
    open_notices = await repo.open_for(identity_id=identity_id, chat_id=chat_id, stages=None, now=clock.now())
    if not open_notices:
        return None
    finals = [d for d in open_notices if d.stage == FINAL]
    return await _ack(repo, clock, (finals or open_notices)[0])


async def _ack(repo: NoticeRepository, clock: Clock, delivery: NoticeDelivery) -> Confirmation:
    now = clock.now()
    already = delivery.status == "acked"
    if not already:
        for row in await repo.same_notice(delivery):
            if row.status in ("sending", "sent"):
                row.status = "acked"
                row.acked_at = now
                row.sent_at = row.sent_at or now
                row.next_attempt_at = None
        await repo.session.flush()
    key = await _key_account(repo, delivery)
    return Confirmation(delivery.id, delivery.outage_id, delivery.stage, delivery.acked_at, already, key)


async def report_problem(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    delivery_id: int,
    *,
    identity_id: int | None = None,
    chat_id: int | None = None,
) -> Confirmation:
    """The Problem button: a high-priority escalation (reason notice_problem) for the key account's manager,
    who is also alerted on Telegram and by email through the outbox. Pressing it again changes nothing."""
    repo = NoticeRepository(session)
    delivery = await _answerable(repo, delivery_id, identity_id, chat_id)
    key = await _key_account(repo, delivery)
    existing = await repo.open_problem(delivery.id)
    if existing is not None:
        return Confirmation(delivery.id, delivery.outage_id, delivery.stage, delivery.acked_at, True, key, existing.id)
    now = clock.now()
    escalation = Escalation(
        identity_id=identity_id if identity_id is not None else delivery.identity_id,
        delivery_id=delivery.id,
        reason=PROBLEM_REASON,
        priority="high",
        state="assigned" if key else "pending",
        assigned_to_id=key.manager_id if key else None,
        created_at=now,
    )
    session.add(escalation)
    await session.flush()
    if key is not None:
        await repo.insert_deliveries(
            _manager_rows(
                key,
                settings,
                now,
                outage_id=delivery.outage_id,
                stage="problem",
                contact_key=f"staff:{key.manager_id}:d{delivery.id}",
                revision=delivery.revision,
                key_contact_id=delivery.key_contact_id,
            )
        )
    return Confirmation(delivery.id, delivery.outage_id, delivery.stage, delivery.acked_at, False, key, escalation.id)


async def chase_unconfirmed(session: AsyncSession, clock: Clock, settings: Settings) -> int:
    """Worker job: key accounts whose final confirmation nobody answered within notice_confirm_minutes of
    its sending: their deliveries are marked (shown as unconfirmed) and the account manager is alerted on
    Telegram and by email. Once per account and round. Returns how many accounts were chased."""
    now = clock.now()
    repo = NoticeRepository(session)
    rows = await repo.unconfirmed(now - timedelta(minutes=settings.notice_confirm_minutes), [FINAL])
    by_account: dict[tuple[int, int, int], list[NoticeDelivery]] = defaultdict(list)
    for row in rows:
        if row.account_id is not None:
            by_account[(row.outage_id, row.account_id, row.revision)].append(row)
    keys = await repo.key_accounts({account_id for _, account_id, _ in by_account})
    alerts: list[dict[str, Any]] = []
    for (outage_id, account_id, revision), unanswered in by_account.items():
        for row in unanswered:
            row.unconfirmed_alerted_at = now
        key = keys.get(account_id)
        if key is None:
            continue
        alerts += _manager_rows(
            key,
            settings,
            now,
            outage_id=outage_id,
            stage="alert",
            contact_key=f"staff:{key.manager_id}:a{account_id}",
            revision=revision,
        )
    await session.flush()
    await repo.insert_deliveries(alerts)
    return len(by_account)


def _manager_rows(
    key: KeyAccountInfo,
    settings: Settings,
    now: datetime,
    *,
    outage_id: int,
    stage: str,
    contact_key: str,
    revision: int,
    key_contact_id: int | None = None,
) -> list[dict[str, Any]]:
    """Outbox rows to a key account's manager: Telegram when they have a chat, email when they have an
    address (both when both; on channels this installation lacks only when it has neither)."""
    wanted: list[tuple[str, str, int | None]] = []
    if key.manager_chat_id is not None:
        wanted.append(("telegram", str(key.manager_chat_id), key.manager_chat_id))
    if key.manager_email:
        wanted.append(("email", key.manager_email, None))
    channels = available_channels(settings)
    routes = [r for r in wanted if r[0] in channels] or wanted[:1]
    return [
        {
            "outage_id": outage_id,
            "contact_key": contact_key,
            "identity_id": None,
            "key_contact_id": key_contact_id,
            "account_id": key.account_id,
            "segment": STAFF_SEGMENT,
            "stage": stage,
            "revision": revision,
            "channel": channel,
            "address": address,
            "telegram_chat_id": chat_id,
            "language": key.manager_language,
            "priority": STAFF_PRIORITY,
            "due_at": now,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for channel, address, chat_id in routes
    ]


async def _key_account(repo: NoticeRepository, delivery: NoticeDelivery) -> KeyAccountInfo | None:
    if delivery.segment != KEY_SEGMENT or delivery.account_id is None:
        return None
    return (await repo.key_accounts([delivery.account_id])).get(delivery.account_id)


# ----------------------------------------------------------------------------- the dialogue's seam


class NoticeConfirmationResponder:
    """core.dialogue.notices.NoticeResponder: answers the notice buttons ("notice:ack:<id>",
    "notice:problem:<id>") and the outage_ack intent, in the customer's language."""

    def __init__(self, clock: Clock, settings: Settings, renderer: Renderer) -> None:
        self.clock = clock
        self.settings = settings
        self.renderer = renderer

    async def on_payload(
        self, session: AsyncSession, identity: Identity, payload: str, language: str
    ) -> list[OutgoingMessage] | None:
        parsed = parse_payload(payload)
        if parsed is None:
            return None
        kind, delivery_id = parsed
        try:
            if kind == "ack":
                done = await acknowledge(
                    session, self.clock, delivery_id, identity_id=identity.id, chat_id=identity.telegram_chat_id
                )
            else:
                done = await report_problem(
                    session,
                    self.clock,
                    self.settings,
                    delivery_id,
                    identity_id=identity.id,
                    chat_id=identity.telegram_chat_id,
                )
        except (NotFound, Conflict):
            return None  # the dialogue says nothing is waiting for a confirmation
        return [await self._reply(session, done, "acked" if kind == "ack" else "problem_reported", language)]

    async def on_ack_text(
        self, session: AsyncSession, identity: Identity, text: str, language: str
    ) -> list[OutgoingMessage] | None:
        done = await acknowledge_latest_open(
            session, self.clock, identity_id=identity.id, chat_id=identity.telegram_chat_id
        )
        if done is None:
            return None
        return [await self._reply(session, done, "acked", language)]

    async def _reply(self, session: AsyncSession, done: Confirmation, template: str, language: str) -> OutgoingMessage:
        repo = NoticeRepository(session)
        outage = await repo.outage(done.outage_id)
        assert outage is not None
        facts = OutageFacts.of(outage, [], [])
        text = NoticeRenderer(self.renderer).reply(template, language, facts, key=done.key_account)
        return OutgoingMessage(text)
