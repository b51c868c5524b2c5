"""Shared by the notice tests: the demo data without its outages, a real SMTP server on loopback, settings
pointing at the fakes, and small lookups."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import session_scope
from core.models import (
    FaultTicket,
    FeederAlert,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    NoticeDelivery,
    NoticeStage,
    Outage,
    OutageAccount,
    OutageArea,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    StaffUser,
    UtilityAccount,
)
from core.outages import service
from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.demo_snapshot import load_demo_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN = "123456:TEST-token"
# The demo's key account in Xihu (XH): 城西自来水厂 on feeder XH-F02, manager.wang, two contacts.
XH_CONTACT_CHATS = {720_000_009, 720_000_010}
WANG_CHAT = 730_000_004


async def load_demo_world(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> None:
    """The demo data set, without its outages (each test makes the outages it needs): their tickets stay,
    no longer part of an outage."""
    await load_demo_rows(sessionmaker, now)
    async with session_scope(sessionmaker) as session:
        await session.execute(update(FaultTicket).values(outage_id=None))
        await session.execute(update(FeederAlert).values(outage_id=None))
        for table in (OutageArea, OutageFeeder, OutageAccount, OutageEstimate, OutageReport):
            await session.execute(delete(table))
        await session.execute(delete(Outage))


def notice_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "env": "test",
        "notice_rate_limit": 1000,
        "notice_allow_paid_broadcast": True,
        "notice_chat_interval": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def smtp_settings(smtp: SmtpServer) -> dict[str, Any]:
    """The settings that send email to `smtp` (plain SMTP on loopback)."""
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none", "smtp_from": "notices@grid.test"}


def channel_settings(database_url: str, api: FakeTelegramApi, smtp: SmtpServer | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"telegram_token": TOKEN, "telegram_api_base": api.base_url}
    if smtp is not None:
        values.update(smtp_settings(smtp))
    values.update(overrides)
    return notice_settings(database_url, **values)


def draft(start: datetime, **overrides: Any) -> service.OutageInput:
    values: dict[str, Any] = {
        "starts_at": start,
        "ends_at": start + timedelta(hours=6),
        "reason": "10kV线路检修",
        "contact": "95598",
        "areas": ("XH",),
    }
    values.update(overrides)
    return service.OutageInput(**values)


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


async def rows(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int, **where: Any) -> list[NoticeDelivery]:
    async with sessionmaker() as session:
        query = select(NoticeDelivery).where(NoticeDelivery.outage_id == outage_id)
        for name, value in where.items():
            query = query.where(getattr(NoticeDelivery, name) == value)
        return list(await session.scalars(query.order_by(NoticeDelivery.id)))


async def stages(sessionmaker: async_sessionmaker[AsyncSession], outage_id: int) -> list[NoticeStage]:
    async with sessionmaker() as session:
        query = select(NoticeStage).where(NoticeStage.outage_id == outage_id).order_by(NoticeStage.id)
        return list(await session.scalars(query))


async def xh_identities(session: AsyncSession) -> list[Identity]:
    """The subscribed demo Telegram identities bound to accounts in Xihu."""
    query = (
        select(Identity)
        .join(IdentityAccount, IdentityAccount.identity_id == Identity.id)
        .join(UtilityAccount, UtilityAccount.id == IdentityAccount.account_id)
        .where(UtilityAccount.area_code == "XH")
        .order_by(Identity.id)
    )
    return list(await session.scalars(query))


async def contacts_by_chat(session: AsyncSession, chat_id: int) -> KeyAccountContact:
    contact = await session.scalar(select(KeyAccountContact).where(KeyAccountContact.telegram_chat_id == chat_id))
    assert contact is not None
    return contact


async def staff_id(session: AsyncSession, username: str) -> int:
    ident = await session.scalar(select(StaffUser.id).where(StaffUser.username == username))
    assert ident is not None
    return int(ident)


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1 (a thread of its own), recording every message it accepts."""

    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def __enter__(self) -> SmtpServer:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()


@asynccontextmanager
async def fake_channels() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    """A fake Bot API server and a real SMTP server, both on loopback."""
    async with FakeTelegramApi() as api:
        with SmtpServer() as smtp:
            yield api, smtp
