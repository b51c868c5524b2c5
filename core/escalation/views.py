"""The escalation queue as staff read it: the list (with the customer's place, overdue flags, who has it)
and one conversation (its transcript with intents and confidence, the customer and account context, phone
masked). Read-only; built once per process; a session per call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.conversations.repository import MessageRepository
from core.escalation.repository import EscalationRepository, QueueRow
from core.escalation.service import EscalationService
from core.models import StaffUser
from core.models.enums import ChatChannel, EscalationState
from core.security import mask_phone
from core.staff.permissions import Access


@dataclass(frozen=True, slots=True)
class EscalationItem:
    id: int
    session_id: str | None  # a web chat customer
    telegram_chat_id: int | None  # a Telegram customer
    channel: str | None
    language: str | None
    reason: str
    priority: str
    state: str
    overdue: bool
    assignee: str | None
    assignee_id: int | None
    account_number: str | None
    customer_name: str | None
    created_at: datetime
    reopened_at: datetime | None
    first_response_at: datetime | None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    id: int
    direction: str
    text: str
    buttons: list[dict[str, str]]
    payload: str | None  # the button the customer pressed (its title is the text, when known)
    intent: str | None
    confidence: float | None
    staff: str | None  # who wrote it, for a staff reply
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerContext:
    account_number: str
    customer_name: str
    segment: str
    address: str
    phone: str  # masked
    key_account_manager: str | None


@dataclass(frozen=True, slots=True)
class EscalationDetail:
    escalation: EscalationItem
    transcript: list[TranscriptLine]
    customer: CustomerContext | None


class EscalationViews:
    def __init__(self, service: EscalationService) -> None:
        self.service = service

    async def queue(
        self,
        session: AsyncSession,
        staff: StaffUser,
        level: Access,
        *,
        states: tuple[str, ...] = (EscalationState.PENDING, EscalationState.ASSIGNED),
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[EscalationItem], int]:
        """High priority and longest waiting first; an account manager (own) sees their key accounts'."""
        rows, total = await EscalationRepository(session).queue(
            states=states,
            manager_id=staff.id if level == Access.OWN else None,
            assignee_id=staff.id if mine else None,
            limit=limit,
            offset=offset,
        )
        return [self._item(row) for row in rows], total

    async def detail(
        self, session: AsyncSession, escalation_id: int, staff: StaffUser, level: Access
    ) -> EscalationDetail:
        escalation = await self.service.get(session, escalation_id, staff, level)
        repo = EscalationRepository(session)
        rows, _ = await repo.queue(states=tuple(EscalationState), limit=1, offset=0, only_id=escalation.id)
        item = self._item(rows[0])
        transcript: list[TranscriptLine] = []
        if escalation.conversation_id is not None:
            messages = await MessageRepository(session).of_conversation(escalation.conversation_id)
            names = await repo.staff_names({m.staff_id for m in messages if m.staff_id})
            transcript = [
                TranscriptLine(
                    id=m.id,
                    direction=m.direction,
                    text=m.text,
                    buttons=list(m.buttons or []),
                    payload=m.payload,
                    intent=m.intent,
                    confidence=m.confidence,
                    staff=names.get(m.staff_id) if m.staff_id else None,
                    created_at=m.created_at,
                )
                for m in messages
            ]
        customer = None
        if escalation.account_id is not None and (found := await repo.customer(escalation.account_id)):
            account, name, segment, manager = found
            customer = CustomerContext(
                account_number=account.account_number,
                customer_name=name,
                segment=segment,
                address=account.address,
                phone=mask_phone(account.phone),
                key_account_manager=manager,
            )
        return EscalationDetail(item, transcript, customer)

    def _item(self, row: QueueRow) -> EscalationItem:
        e, identity = row.escalation, row.identity
        web = identity is not None and identity.channel == ChatChannel.WEB
        return EscalationItem(
            id=e.id,
            session_id=identity.external_id if web and identity is not None else None,
            telegram_chat_id=identity.telegram_chat_id if identity is not None and not web else None,
            channel=identity.channel if identity is not None else None,
            language=identity.language if identity is not None else None,
            reason=e.reason,
            priority=e.priority,
            state=e.state,
            overdue=self.service.overdue(e),
            assignee=row.assignee,
            assignee_id=e.assigned_to_id,
            account_number=row.account_number,
            customer_name=row.customer_name,
            created_at=e.created_at,
            reopened_at=e.reopened_at,
            first_response_at=e.first_response_at,
        )
