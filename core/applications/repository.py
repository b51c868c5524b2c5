"""The SQL of applications: the staff's page (an account manager's own key accounts), one application with its
account, owner and history, a customer's open ones, and who is told of a change (the bound customers; the
key account's contacts come from core.notices.audiences). Works inside the caller's session; never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import aliased

from core.db.repository import RepositoryBase
from core.models import (
    Application,
    ApplicationEvent,
    Customer,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import ApplicationKind, ApplicationStage, Language, Segment
from core.notices.audiences import IdentityRow, reachable


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    """An application with what every view of it shows: its account, customer and owner."""

    application: Application
    account_number: str
    customer_name: str
    segment: Segment
    owner: str | None  # the owner's username
    owner_name: str | None  # their display name (else the username)
    manager_id: int | None  # the key account's manager


@dataclass(frozen=True, slots=True)
class ApplicationFilter:
    account_number: str | None = None
    kind: ApplicationKind | None = None
    stage: ApplicationStage | None = None
    overdue_at: datetime | None = None  # only those whose due time passed before this instant
    open_only: bool = False  # only those not connected yet
    manager_id: int | None = None  # only the key accounts this account manager owns


@dataclass(frozen=True, slots=True)
class ManagerRow:
    id: int
    name: str
    phone: str | None


_owner = aliased(StaffUser)


def _rows() -> Select[Application, str, str, Segment, str, str, int]:
    return (
        select(
            Application,
            UtilityAccount.account_number,
            Customer.name,
            Customer.segment,
            _owner.username,
            _owner.display_name,
            KeyAccountProfile.account_manager_id,
        )
        .join(UtilityAccount, UtilityAccount.id == Application.account_id)
        .join(Customer, Customer.id == UtilityAccount.customer_id)
        .outerjoin(_owner, _owner.id == Application.owner_id)
        .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == Application.account_id)
    )


def _row(found: Sequence[object]) -> ApplicationRow:
    application, number, name, segment, owner, owner_name, manager_id = found
    assert isinstance(application, Application)
    return ApplicationRow(
        application=application,
        account_number=str(number),
        customer_name=str(name),
        segment=Segment(str(segment)),
        owner=None if owner is None else str(owner),
        owner_name=(str(owner_name) or str(owner)) if owner is not None else None,
        manager_id=None if manager_id is None else int(str(manager_id)),
    )


def _where(f: ApplicationFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.account_number:
        where.append(UtilityAccount.account_number == f.account_number)
    if f.kind is not None:
        where.append(Application.kind == f.kind)
    if f.stage is not None:
        where.append(Application.stage == f.stage)
    if f.overdue_at is not None:
        where.append(and_(Application.due_at.is_not(None), Application.due_at < f.overdue_at))
    if f.open_only:
        where.append(Application.stage != ApplicationStage.CONNECTED)
    if f.manager_id is not None:
        where.append(KeyAccountProfile.account_manager_id == f.manager_id)
    return where


class ApplicationRepository(RepositoryBase[Application]):
    model = Application

    async def page(self, f: ApplicationFilter, *, limit: int, offset: int) -> tuple[list[ApplicationRow], int]:
        """Most urgent first (the earliest due; connected ones, with no due time, last), and how many match."""
        base = _rows().where(*_where(f))
        total = int(await self.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        found = await self.session.execute(
            base.order_by(Application.due_at.is_(None), Application.due_at, Application.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_row(r) for r in found], total

    async def row(self, application_id: int) -> ApplicationRow | None:
        found = (await self.session.execute(_rows().where(Application.id == application_id))).first()
        return _row(found) if found is not None else None

    async def of_accounts(self, account_ids: Collection[int]) -> list[ApplicationRow]:
        """The applications of these accounts: those still open first (the earliest due first), then the
        connected ones, newest first."""
        if not account_ids:
            return []
        found = await self.session.execute(
            _rows()
            .where(Application.account_id.in_(sorted(account_ids)))
            .order_by(
                Application.stage == ApplicationStage.CONNECTED,
                Application.due_at.is_(None),
                Application.due_at,
                Application.updated_at.desc(),
                Application.id.desc(),
            )
        )
        return [_row(r) for r in found]

    def add_event(self, event: ApplicationEvent) -> ApplicationEvent:
        self.session.add(event)
        return event

    async def events(self, application_id: int) -> list[tuple[ApplicationEvent, str | None]]:
        """Its history, oldest first, with the username of the staff member of each line."""
        found = await self.session.execute(
            select(ApplicationEvent, StaffUser.username)
            .outerjoin(StaffUser, StaffUser.id == ApplicationEvent.staff_id)
            .where(ApplicationEvent.application_id == application_id)
            .order_by(ApplicationEvent.at, ApplicationEvent.id)
        )
        return [(event, username) for event, username in found]

    async def event(self, event_id: int) -> ApplicationEvent | None:
        return await self.session.get(ApplicationEvent, event_id)

    async def account(self, account_number: str) -> tuple[UtilityAccount, Segment, int | None] | None:
        """An account by its number, with its segment and its key-account manager (None: not a key account)."""
        found = (
            await self.session.execute(
                select(UtilityAccount, Customer.segment, KeyAccountProfile.account_manager_id)
                .join(Customer, Customer.id == UtilityAccount.customer_id)
                .outerjoin(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
                .where(UtilityAccount.account_number == account_number)
            )
        ).first()
        if found is None:
            return None
        account, segment, manager_id = found
        return account, Segment(segment), manager_id

    async def managers(self, account_ids: Collection[int]) -> dict[int, ManagerRow]:
        """The account managers of these key accounts, by account id."""
        if not account_ids:
            return {}
        found = await self.session.execute(
            select(KeyAccountProfile.account_id, StaffUser)
            .join(StaffUser, StaffUser.id == KeyAccountProfile.account_manager_id)
            .where(KeyAccountProfile.account_id.in_(sorted(account_ids)))
        )
        return {
            account_id: ManagerRow(staff.id, staff.display_name or staff.username, staff.phone)
            for account_id, staff in found
        }

    async def contact_accounts(self, telegram_chat_id: int) -> list[int]:
        """The key accounts whose contact talks to us from this Telegram chat."""
        found = await self.session.scalars(
            select(KeyAccountContact.account_id)
            .where(KeyAccountContact.telegram_chat_id == telegram_chat_id)
            .order_by(KeyAccountContact.account_id)
            .distinct()
        )
        return list(found)

    async def bound_identities(self, account_id: int, segment: Segment) -> list[IdentityRow]:
        """The customers bound to the account that a message can reach: on Telegram (not blocked), or in the web
        chat with a verified email address."""
        found = await self.session.execute(
            select(Identity.id, Identity.telegram_chat_id, Identity.language, Identity.email)
            .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
            .where(IdentityAccount.account_id == account_id, reachable())
            .order_by(Identity.id)
        )
        return [
            IdentityRow(ident, account_id, segment, chat, Language(language), None if chat else email)
            for ident, chat, language, email in found
        ]
