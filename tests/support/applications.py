"""Shared by the application tests (service, API, CLI, chat, end to end): a demo key account with its manager and
contacts, and the outbox rows an application's changes made."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import (
    Customer,
    KeyAccountContact,
    KeyAccountProfile,
    NoticeDelivery,
    StaffUser,
    UtilityAccount,
)
from core.models.enums import SubjectKind

WATERWORKS = "城西自来水厂"  # a demo key account without demo applications (manager.wang)
FACTORY = "华东精密机械厂"  # has a capacity increase at completion inspection, needing its feeder's planned outage
DATA_CENTRE = "云谷数据中心"  # has an overdue capacity increase (design review)


@dataclass(frozen=True)
class DemoKeyAccount:
    account_id: int
    number: str
    last4: str
    name: str
    manager: str  # username
    manager_name: str
    manager_phone: str
    contact_chats: tuple[int, ...]


async def demo_key_account(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> DemoKeyAccount:
    async with sessionmaker() as session:
        account, manager = (
            await session.execute(
                select(UtilityAccount, StaffUser)
                .join(Customer, Customer.id == UtilityAccount.customer_id)
                .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
                .join(StaffUser, StaffUser.id == KeyAccountProfile.account_manager_id)
                .where(Customer.name == name)
            )
        ).one()
        chats = await session.scalars(
            select(KeyAccountContact.telegram_chat_id)
            .where(KeyAccountContact.account_id == account.id, KeyAccountContact.telegram_chat_id.is_not(None))
            .order_by(KeyAccountContact.id)
        )
        return DemoKeyAccount(
            account_id=account.id,
            number=account.account_number,
            last4=account.phone[-4:],
            name=name,
            manager=manager.username,
            manager_name=manager.display_name or manager.username,
            manager_phone=manager.phone or "",
            contact_chats=tuple(int(chat) for chat in chats if chat is not None),
        )


async def application_rows(sessionmaker: async_sessionmaker[AsyncSession], application_id: int) -> list[NoticeDelivery]:
    """The outbox rows about one application, in the order they were made."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(NoticeDelivery)
            .where(NoticeDelivery.subject_kind == SubjectKind.APPLICATION, NoticeDelivery.subject_id == application_id)
            .order_by(NoticeDelivery.id)
        )
        return list(rows)
