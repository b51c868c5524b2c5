"""The SQL of the escalation queue. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import aliased

from core.db.repository import RepositoryBase
from core.escalation.policy import OPEN_STATES
from core.models import Customer, Escalation, Identity, KeyAccountProfile, StaffUser, UtilityAccount
from core.models.enums import EscalationState, Priority, Role


@dataclass(frozen=True, slots=True)
class QueueRow:
    escalation: Escalation
    identity: Identity | None
    assignee: str | None
    account_number: str | None
    customer_name: str | None
    manager_id: int | None  # the key account's manager, when the escalation concerns a key account


class EscalationRepository(RepositoryBase[Escalation]):
    model = Escalation

    async def open_for_conversation(self, conversation_id: int) -> Escalation | None:
        return await self.session.scalar(
            select(Escalation)
            .where(Escalation.conversation_id == conversation_id, Escalation.state.in_(OPEN_STATES))
            .order_by(Escalation.id.desc())
            .limit(1)
        )

    async def latest_for_identity(self, identity_id: int) -> Escalation | None:
        """The identity's latest conversation escalation (a notice's Problem press aside), whatever its state."""
        return await self.session.scalar(
            select(Escalation)
            .where(Escalation.identity_id == identity_id, Escalation.conversation_id.is_not(None))
            .order_by(Escalation.id.desc())
            .limit(1)
        )

    async def ahead_of(self, escalation: Escalation) -> int:
        """Pending escalations served before this one (higher priority, or as high and older)."""
        earlier = and_(
            Escalation.priority == escalation.priority,
            or_(
                Escalation.created_at < escalation.created_at,
                and_(Escalation.created_at == escalation.created_at, Escalation.id < escalation.id),
            ),
        )
        before = (
            or_(Escalation.priority == Priority.HIGH, earlier) if escalation.priority == Priority.NORMAL else earlier
        )
        count = await self.session.scalar(
            select(func.count())
            .select_from(Escalation)
            .where(Escalation.state == EscalationState.PENDING, Escalation.id != escalation.id, before)
        )
        return int(count or 0)

    async def queue(
        self,
        *,
        states: Sequence[str],
        manager_id: int | None = None,
        assignee_id: int | None = None,
        only_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[QueueRow], int]:
        """Escalations in `states`, high priority and longest waiting first; only those `manager_id` may see
        (of the key accounts they manage, or assigned to them: the rule of EscalationService.get), or only
        those assigned to `assignee_id`, when given. And the total."""
        assignee = aliased(StaffUser)
        where: list[ColumnElement[bool]] = [Escalation.state.in_(list(states))]
        if manager_id is not None:
            where.append(
                or_(KeyAccountProfile.account_manager_id == manager_id, Escalation.assigned_to_id == manager_id)
            )
        if assignee_id is not None:
            where.append(Escalation.assigned_to_id == assignee_id)
        if only_id is not None:
            where.append(Escalation.id == only_id)
        base = (
            select(Escalation)
            .outerjoin(UtilityAccount, UtilityAccount.id == Escalation.account_id)
            .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == Escalation.account_id)
            .where(*where)
        )
        total = int(await self.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        high_first = (Escalation.priority == Priority.HIGH).desc()
        rows = await self.session.execute(
            select(
                Escalation,
                Identity,
                func.coalesce(assignee.display_name, assignee.username),
                UtilityAccount.account_number,
                Customer.name,
                KeyAccountProfile.account_manager_id,
            )
            .outerjoin(Identity, Identity.id == Escalation.identity_id)
            .outerjoin(assignee, assignee.id == Escalation.assigned_to_id)
            .outerjoin(UtilityAccount, UtilityAccount.id == Escalation.account_id)
            .outerjoin(Customer, Customer.id == UtilityAccount.customer_id)
            .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == Escalation.account_id)
            .where(*where)
            .order_by(high_first, Escalation.created_at, Escalation.id)
            .limit(limit)
            .offset(offset)
        )
        return [QueueRow(*row) for row in rows], total

    async def open_not_alerted(self) -> list[Escalation]:
        """Open escalations whose overdue alert has not gone out yet (the worker judges which are overdue)."""
        rows = await self.session.scalars(
            select(Escalation)
            .where(Escalation.state.in_(OPEN_STATES), Escalation.overdue_alerted_at.is_(None))
            .order_by(Escalation.id)
        )
        return list(rows)

    async def manager_of(self, account_id: int) -> int | None:
        return await self.session.scalar(
            select(KeyAccountProfile.account_manager_id).where(KeyAccountProfile.account_id == account_id)
        )

    async def supervisors(self) -> list[StaffUser]:
        """Active supervisors (the admins when there is none): they are told of overdue escalations."""
        for role in (Role.SUPERVISOR, Role.ADMIN):
            rows = list(
                await self.session.scalars(
                    select(StaffUser)
                    .where(StaffUser.role == role, StaffUser.is_active.is_(True))
                    .order_by(StaffUser.id)
                )
            )
            if rows:
                return rows
        return []

    async def active_staff(self) -> list[StaffUser]:
        return list(
            await self.session.scalars(select(StaffUser).where(StaffUser.is_active.is_(True)).order_by(StaffUser.id))
        )

    async def staff(self, staff_id: int) -> StaffUser | None:
        return await self.session.get(StaffUser, staff_id)

    async def staff_names(self, ids: set[int | None]) -> dict[int, str]:
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(StaffUser.id, func.coalesce(StaffUser.display_name, StaffUser.username)).where(
                StaffUser.id.in_(wanted)
            )
        )
        return {ident: name for ident, name in rows}

    async def customer(self, account_id: int) -> tuple[UtilityAccount, str, str, str | None] | None:
        """The account, its customer's name and segment, and its key-account manager's name (if any)."""
        manager = aliased(StaffUser)
        row = (
            await self.session.execute(
                select(
                    UtilityAccount,
                    Customer.name,
                    Customer.segment,
                    func.coalesce(manager.display_name, manager.username),
                )
                .join(Customer, Customer.id == UtilityAccount.customer_id)
                .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
                .outerjoin(manager, manager.id == KeyAccountProfile.account_manager_id)
                .where(UtilityAccount.id == account_id)
            )
        ).first()
        return (row[0], row[1], str(row[2]), row[3]) if row is not None else None

    async def for_alerts(self, ids: set[int]) -> dict[int, tuple[Escalation, str | None, str | None, str | None]]:
        """Escalations with their channel, assignee's name and account number (for an alert to staff)."""
        rows = await self.session.execute(
            select(Escalation, Identity.channel, StaffUser.display_name, UtilityAccount.account_number)
            .outerjoin(Identity, Identity.id == Escalation.identity_id)
            .outerjoin(StaffUser, StaffUser.id == Escalation.assigned_to_id)
            .outerjoin(UtilityAccount, UtilityAccount.id == Escalation.account_id)
            .where(Escalation.id.in_(sorted(ids)))
        )
        return {e.id: (e, channel, assignee, number) for e, channel, assignee, number in rows}
