"""The escalation queue: a conversation handed to a person, from the customer's side (recorded, waiting,
reopened) and from the staff's side (claimed, assigned, answered, resolved), and the overdue chase.

States pending → assigned → resolved; a message soon after resolving reopens it (back to pending). A key
account's escalation goes to its account manager first. Staff replies reach the customer in their own
channel through core.conversations.outbound (the web chat reads its transcript; Telegram gets it from the
outbox). Every staff action is audited. Built once per process; a session per call; never commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.conversations.outbound import CustomerMessenger
from core.customers.service import CustomerAccounts
from core.errors import Conflict, InvalidInput, NotFound
from core.escalation.policy import OPEN_STATES, PRIORITY_ORDER, EscalationDecision, EscalationRules
from core.escalation.repository import EscalationRepository
from core.models import Conversation, Escalation, Identity, StaffUser, UtilityAccount
from core.models.enums import (
    AlertKind,
    EscalationState,
    Language,
    Priority,
    Segment,
    SubjectKind,
    SurveyTrigger,
    Tier,
)
from core.notices.outbox import ContactKey, ContactPoint, Recipient, Subject, routes
from core.notices.repository import OutboxRepository
from core.staff.audit import AuditService
from core.staff.permissions import Access, Permission, access
from core.templating import Renderer

if TYPE_CHECKING:
    from core.feedback.surveys import SurveyService

MAX_REPLY = 4096  # Telegram's limit for one message


class EscalationService:
    def __init__(
        self,
        clock: Clock,
        rules: EscalationRules,
        accounts: CustomerAccounts,
        messenger: CustomerMessenger,
        renderer: Renderer,
        audit: AuditService,
        *,
        hotline: str,
        channels: frozenset[str] = frozenset(),
        surveys: SurveyService | None = None,
    ) -> None:
        self.clock = clock
        self.rules = rules
        self.accounts = accounts
        self.messenger = messenger
        self.renderer = renderer
        self.audit = audit
        self.hotline = hotline
        self.channels = channels
        self.surveys = surveys  # the satisfaction survey sent when a conversation is resolved

    # -------------------------------------------------------------------------- the customer's side

    async def is_key_account(self, session: AsyncSession, account: UtilityAccount | None) -> bool:
        """Whether the conversation is about a key account (its escalations come first)."""
        return account is not None and await self.accounts.is_key_account(session, account.id)

    async def record(
        self,
        session: AsyncSession,
        conversation: Conversation,
        decision: EscalationDecision,
        account: UtilityAccount | None = None,
    ) -> tuple[Escalation, bool]:
        """Record that the conversation needs a person; (the escalation, whether it is new).

        A conversation has at most one open escalation: asking again keeps it (raising its priority if the
        new reason is more urgent) instead of queueing the customer twice. A key account's goes to its
        account manager straight away."""
        repo = EscalationRepository(session)
        existing = await repo.open_for_conversation(conversation.id)
        if existing is not None:
            if PRIORITY_ORDER[decision.priority] > PRIORITY_ORDER.get(existing.priority, 0):
                existing.priority = Priority(decision.priority)
            return existing, False
        manager_id = await repo.manager_of(account.id) if account is not None else None
        now = self.clock.now()
        escalation = repo.add(
            Escalation(
                conversation_id=conversation.id,
                identity_id=conversation.identity_id,
                account_id=account.id if account is not None else None,
                reason=decision.reason,
                priority=Priority(decision.priority),
                state=EscalationState.ASSIGNED if manager_id else EscalationState.PENDING,
                assigned_to_id=manager_id,
                claimed_at=now if manager_id else None,
                created_at=now,
            )
        )
        await session.flush()
        return escalation, True

    async def waiting(self, session: AsyncSession, identity: Identity, *, reopen: bool) -> Escalation | None:
        """The identity's open escalation, if any. A message soon after one was resolved reopens it (not a
        survey answer: `reopen` False)."""
        latest = await EscalationRepository(session).latest_for_identity(identity.id)
        if latest is None:
            return None
        if latest.state in OPEN_STATES:
            return latest
        now = self.clock.now()
        if reopen and self.rules.reopens(state=latest.state, resolved_at=latest.resolved_at, now=now):
            latest.state = EscalationState.PENDING
            latest.reopened_at = now
            latest.resolved_at = None
            latest.assigned_to_id = None
            latest.overdue_alerted_at = latest.waiting_told_at = None
            await session.flush()
            return latest
        return None

    async def place(self, session: AsyncSession, escalation: Escalation) -> int:
        """The customer's place in the queue (1 = next); 0 once a person has taken it."""
        if escalation.state != EscalationState.PENDING:
            return 0
        return await EscalationRepository(session).ahead_of(escalation) + 1

    # ------------------------------------------------------------------------------ the staff's side

    async def get(self, session: AsyncSession, escalation_id: int, staff: StaffUser, level: Access) -> Escalation:
        """An escalation the staff member may see: every one, or (own) those of the key accounts they manage
        or assigned to them. NotFound otherwise: the same answer whether it exists or not."""
        repo = EscalationRepository(session)
        escalation = await repo.get(escalation_id)
        if escalation is None:
            raise NotFound(f"no escalation {escalation_id}")
        if level == Access.OWN and escalation.assigned_to_id != staff.id:
            manager = await repo.manager_of(escalation.account_id) if escalation.account_id else None
            if manager != staff.id:
                raise NotFound(f"no escalation {escalation_id}")
        return escalation

    async def claim(
        self, session: AsyncSession, escalation_id: int, staff: StaffUser, level: Access, client: str | None = None
    ) -> Escalation:
        escalation = await self.get(session, escalation_id, staff, level)
        self._open(escalation)
        if escalation.state == EscalationState.ASSIGNED and escalation.assigned_to_id not in (None, staff.id):
            raise Conflict("already taken by someone else; a supervisor can reassign it")
        if escalation.assigned_to_id != staff.id:
            self._assign(escalation, staff.id)
            self._audit(session, staff, "escalation.claim", escalation, {}, client)
        return escalation

    async def assign(
        self, session: AsyncSession, escalation_id: int, to_staff_id: int, staff: StaffUser, client: str | None = None
    ) -> Escalation:
        escalation = await self.get(session, escalation_id, staff, Access.ALL)
        self._open(escalation)
        target = await EscalationRepository(session).staff(to_staff_id)
        if target is None or not target.is_active or access(target.role, Permission.ESCALATIONS_HANDLE) is None:
            raise InvalidInput("assign to an active staff member who handles escalations", field="staff_id")
        previous = escalation.assigned_to_id
        self._assign(escalation, target.id)
        self._audit(session, staff, "escalation.assign", escalation, {"from": previous, "to": target.id}, client)
        return escalation

    async def reply(
        self,
        session: AsyncSession,
        escalation_id: int,
        text: str,
        staff: StaffUser,
        level: Access,
        client: str | None = None,
    ) -> Escalation:
        """A staff reply, delivered in the customer's channel; the first one is the first response."""
        text = text.strip()
        if not text:
            raise InvalidInput("write a reply", field="text")
        if len(text) > MAX_REPLY:
            raise InvalidInput(f"a reply has at most {MAX_REPLY} characters", field="text")
        escalation = await self.get(session, escalation_id, staff, level)
        self._open(escalation)
        if escalation.assigned_to_id is None:
            self._assign(escalation, staff.id)
        identity, conversation = await self._customer(session, escalation)
        await self.messenger.send(session, identity, text, staff_id=staff.id, conversation=conversation)
        now = self.clock.now()
        if escalation.first_response_at is None or escalation.first_response_at < (
            escalation.reopened_at or escalation.created_at
        ):
            escalation.first_response_at = now
        self._audit(session, staff, "escalation.reply", escalation, {"characters": len(text)}, client)
        return escalation

    async def resolve(
        self, session: AsyncSession, escalation_id: int, staff: StaffUser, level: Access, client: str | None = None
    ) -> Escalation:
        """Done: the conversation goes back to the bot, and the customer is told so; then the satisfaction survey
        follows (when its rules allow one: core.feedback.survey_rules), for the agent who handled it."""
        escalation = await self.get(session, escalation_id, staff, level)
        self._open(escalation)
        escalation.state = EscalationState.RESOLVED
        escalation.resolved_at = self.clock.now()
        if escalation.conversation_id is not None:
            identity, conversation = await self._customer(session, escalation)
            text = self.renderer.render("dialogue/handoff_resolved", identity.language, hotline=self.hotline)
            await self.messenger.send(session, identity, text, conversation=conversation)
            if self.surveys is not None and conversation is not None:
                await self.surveys.send(
                    session,
                    conversation,
                    identity,
                    SurveyTrigger.RESOLVED,
                    intent=str(escalation.reason),
                    agent_id=escalation.assigned_to_id or staff.id,
                )
        self._audit(session, staff, "escalation.resolve", escalation, {}, client)
        return escalation

    async def assignees(self, session: AsyncSession) -> list[StaffUser]:
        """Who an escalation can be assigned to: active staff whose role handles escalations."""
        staff = await EscalationRepository(session).active_staff()
        return [s for s in staff if access(s.role, Permission.ESCALATIONS_HANDLE) is not None]

    def overdue(self, escalation: Escalation) -> bool:
        return self.rules.overdue(
            state=escalation.state,
            created_at=escalation.created_at,
            reopened_at=escalation.reopened_at,
            first_response_at=escalation.first_response_at,
            now=self.clock.now(),
        )

    # ---------------------------------------------------------------------------- the worker's chase

    async def chase_overdue(self, session: AsyncSession) -> int:
        """Worker job: open escalations past the first-response target are flagged once: the supervisors are
        alerted (outbox) and the waiting customer told again, with their place. Returns how many."""
        now = self.clock.now()
        repo = EscalationRepository(session)
        supervisors = await repo.supervisors()
        chased = 0
        for escalation in await repo.open_not_alerted():
            if not self.overdue(escalation):
                continue
            escalation.overdue_alerted_at = now
            drafts = [
                draft
                for person in supervisors
                for draft in self._staff_recipient(person, f"e{escalation.id}").drafts(
                    Subject(SubjectKind.ESCALATION, escalation.id), AlertKind.OVERDUE, due_at=now, release_at=now
                )
            ]
            await OutboxRepository(session).store(drafts, now)
            if escalation.conversation_id is not None and escalation.waiting_told_at is None:
                escalation.waiting_told_at = now
                identity, conversation = await self._customer(session, escalation)
                text = self.renderer.render(
                    "dialogue/handoff_still_waiting",
                    identity.language,
                    place=await self.place(session, escalation),
                    hotline=self.hotline,
                )
                await self.messenger.send(session, identity, text, conversation=conversation)
            chased += 1
        await session.flush()
        return chased

    # -------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _open(escalation: Escalation) -> None:
        if escalation.state not in OPEN_STATES:
            raise Conflict("this escalation is resolved")

    def _assign(self, escalation: Escalation, staff_id: int) -> None:
        escalation.assigned_to_id = staff_id
        escalation.state = EscalationState.ASSIGNED
        escalation.claimed_at = self.clock.now()

    async def _customer(self, session: AsyncSession, escalation: Escalation) -> tuple[Identity, Conversation | None]:
        identity = await session.get(Identity, escalation.identity_id) if escalation.identity_id else None
        if identity is None:
            raise Conflict("this escalation has no customer conversation to answer in")
        conversation = (
            await session.get(Conversation, escalation.conversation_id) if escalation.conversation_id else None
        )
        return identity, conversation

    def _staff_recipient(self, person: StaffUser, about: str) -> Recipient:
        point = ContactPoint(telegram_chat_id=person.telegram_chat_id, email=person.email)
        return Recipient(
            key=ContactKey.staff(person.id, about),
            tier=Tier.STAFF,
            segment=Segment.RESIDENTIAL,
            language=Language.ZH,  # staff read Chinese, the utility's language
            routes=routes(point, self.channels, email_always=True),
        )

    def _audit(
        self,
        session: AsyncSession,
        staff: StaffUser,
        action: str,
        escalation: Escalation,
        detail: dict[str, object],
        client: str | None,
    ) -> None:
        self.audit.record(session, staff, action, "escalation", escalation.id, detail, client)
