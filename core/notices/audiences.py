"""The SQL of who is told: key-account contacts and subscribed customers in an outage's scope, the key
accounts' managers, and the marks left by a 403 (blocked). Never commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.models import (
    Customer,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    NoticeDelivery,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import ChatChannel, DeliveryStatus, Language, Segment, Tier
from core.outages.facts import Scope

TOLD_STATUSES = (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.ACKED)  # has (or is being given) it


def accounts_in(scope: Scope) -> ColumnElement[bool]:
    """Accounts an outage affects: in its areas, on its feeders, or named."""
    parts: list[ColumnElement[bool]] = []
    if scope.area_codes:
        parts.append(UtilityAccount.area_code.in_(scope.area_codes))
    if scope.feeder_codes:
        parts.append(UtilityAccount.feeder_code.in_(scope.feeder_codes))
    if scope.account_ids:
        parts.append(UtilityAccount.id.in_(scope.account_ids))
    return or_(*parts) if parts else false()


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    account_id: int
    name: str
    telegram_chat_id: int | None
    telegram_blocked: bool
    email: str | None
    phone: str | None
    language: Language
    priority: int  # the key account's priority: 1 = most critical


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    account_id: int
    segment: Segment
    telegram_chat_id: int | None
    language: Language
    email: str | None = None  # a web chat customer's verified address (their notices go by email)


@dataclass(frozen=True, slots=True)
class KeyAccountInfo:
    account_id: int
    account_number: str
    customer_name: str
    feeder_code: str
    manager_id: int
    manager_name: str
    manager_phone: str | None
    manager_email: str | None
    manager_chat_id: int | None
    manager_language: Language = Language.ZH


class AudienceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def key_contacts(self, scope: Scope, contact_ids: Collection[int] = ()) -> list[ContactRow]:
        """Contacts of the key accounts in `scope`, plus the contacts named in `contact_ids`."""
        where = accounts_in(scope)
        if contact_ids:
            where = or_(where, KeyAccountContact.id.in_(list(contact_ids)))
        rows = await self.session.execute(
            select(KeyAccountContact, KeyAccountProfile.priority)
            .join(UtilityAccount, UtilityAccount.id == KeyAccountContact.account_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .where(where)
            .order_by(KeyAccountProfile.priority, KeyAccountContact.id)
        )
        return [
            ContactRow(
                id=c.id,
                account_id=c.account_id,
                name=c.name,
                telegram_chat_id=c.telegram_chat_id,
                telegram_blocked=c.telegram_blocked_at is not None,
                email=c.email,
                phone=c.phone,
                language=Language(c.language),
                priority=priority,
            )
            for c, priority in rows
        ]

    async def subscribed_identities(self, scope: Scope, identity_ids: Collection[int] = ()) -> list[IdentityRow]:
        """Identities subscribed to notices, bound to an account in `scope` (or named in `identity_ids`), that
        a notice can reach — Telegram ones not blocked, web chat ones with a verified email: one row each,
        with the first such account."""
        rows = await self.session.execute(
            _subscribed(
                scope,
                identity_ids,
                Identity.id,
                UtilityAccount.id,
                Customer.segment,
                Identity.telegram_chat_id,
                Identity.language,
                Identity.email,
            ).order_by(Identity.id, UtilityAccount.id)
        )
        # One query, no GROUP BY and no second look-up of segments: the rows come in identity order, each
        # identity's first account first (its customer's segment with it), and that first row is kept.
        found: list[IdentityRow] = []
        last = None
        for ident, account_id, segment, chat, language, email in rows:
            if ident != last:
                found.append(IdentityRow(ident, account_id, segment, chat, language, email if not chat else None))
                last = ident
        return found

    async def any_subscriber(self, scope: Scope, but_chats: Collection[int] = ()) -> bool:
        """Whether `subscribed_identities(scope)` would find anyone but these Telegram chats (one row looked
        for, not all of them)."""
        query = _subscribed(scope, (), Identity.id)
        if but_chats:
            query = query.where(
                or_(Identity.telegram_chat_id.is_(None), Identity.telegram_chat_id.not_in(sorted(set(but_chats))))
            )
        return await self.session.scalar(query.limit(1)) is not None

    async def told(self, outage_id: int) -> set[str]:
        """Contact keys of every customer who has been (or is being) given a notice of this outage."""
        rows = await self.session.scalars(
            select(NoticeDelivery.contact_key)
            .where(
                NoticeDelivery.outage_id == outage_id,
                NoticeDelivery.status.in_(TOLD_STATUSES),
                NoticeDelivery.tier != Tier.STAFF,
            )
            .distinct()
        )
        return set(rows)

    async def key_accounts(self, account_ids: Iterable[int]) -> dict[int, KeyAccountInfo]:
        manager = aliased(StaffUser)
        rows = await self.session.execute(
            select(UtilityAccount, Customer.name, manager)
            .join(Customer, Customer.id == UtilityAccount.customer_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .join(manager, manager.id == KeyAccountProfile.account_manager_id)
            .where(UtilityAccount.id.in_(sorted(set(account_ids))))
        )
        return {
            account.id: KeyAccountInfo(
                account_id=account.id,
                account_number=account.account_number,
                customer_name=name,
                feeder_code=account.feeder_code,
                manager_id=staff.id,
                manager_name=staff.display_name or staff.username,
                manager_phone=staff.phone,
                manager_email=staff.email,
                manager_chat_id=staff.telegram_chat_id,
            )
            for account, name, staff in rows
        }

    async def contacts(self, ids: Collection[int]) -> dict[int, KeyAccountContact]:
        rows = await self.session.scalars(select(KeyAccountContact).where(KeyAccountContact.id.in_(list(ids))))
        return {c.id: c for c in rows}

    async def mark_identities_blocked(self, chat_ids: Collection[int], at: datetime) -> None:
        if chat_ids:
            await self.session.execute(
                update(Identity)
                .where(Identity.telegram_chat_id.in_(list(chat_ids)), Identity.blocked_at.is_(None))
                .values(blocked_at=at)
                .execution_options(synchronize_session=False)
            )

    async def mark_contacts_blocked(self, contact_ids: Collection[int], at: datetime) -> None:
        if contact_ids:
            await self.session.execute(
                update(KeyAccountContact)
                .where(KeyAccountContact.id.in_(list(contact_ids)), KeyAccountContact.telegram_blocked_at.is_(None))
                .values(telegram_blocked_at=at)
                .execution_options(synchronize_session=False)
            )


def _subscribed(scope: Scope, identity_ids: Collection[int], *columns: Any) -> Select[Any]:
    """The reachable subscribed identities bound to an account in `scope` (or named), a row per bound account."""
    in_scope = accounts_in(scope)
    if identity_ids:
        in_scope = or_(in_scope, Identity.id.in_(list(identity_ids)))
    return (
        select(*columns)
        .select_from(Identity)
        .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
        .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
        .join(Customer, Customer.id == UtilityAccount.customer_id)
        .where(
            in_scope,
            IdentityAccount.is_current.is_(True),
            Identity.subscribed_notices.is_(True),
            reachable(),
        )
    )


def reachable() -> ColumnElement[bool]:
    """An identity a message can reach: Telegram not blocked, or the web chat with a verified email."""
    by_telegram = and_(
        Identity.channel == ChatChannel.TELEGRAM,
        Identity.blocked_at.is_(None),
        Identity.telegram_chat_id.is_not(None),
    )
    by_email = and_(
        Identity.channel == ChatChannel.WEB, Identity.email.is_not(None), Identity.email_verified_at.is_not(None)
    )
    return or_(by_telegram, by_email)
