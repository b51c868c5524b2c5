"""Photos and locations sent to the Telegram bot during a fault report: the photo's largest size fetched through
the (fake) Bot API's getFile and download path, the location taken as the place, both ending on the ticket."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiogram.types import Chat, Location, Message, PhotoSize, Update, User
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import TelegramApp, build_telegram
from core.clock import FrozenClock
from core.config import Settings
from core.dialogue import build_conversations
from core.models import FaultTicket, Identity, TicketAttachment
from core.models.enums import AttachmentKind
from core.templating import Renderer
from tests.fakes.telegram_api import Call, FakeTelegramApi
from tests.support.dialogue import demo_account, demo_nlu, load_demo_data

TOKEN = "123456:TEST-token"
Maker = async_sessionmaker[AsyncSession]
_ids = itertools.count(5000)
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"  # a JPEG's signature and end


@dataclass
class Bot:
    api: FakeTelegramApi
    app: TelegramApp

    async def send(self, customer: User, **content: object) -> list[Call]:
        """One private message (text=..., photo=[...], location=...); the calls the bot made for it."""
        before = len(self.api.calls)
        update = Update(
            update_id=next(_ids),
            message=Message(
                message_id=next(_ids),
                date=datetime.now(UTC),
                chat=Chat(id=customer.id, type="private"),
                from_user=customer,
                **content,  # type: ignore[arg-type]
            ),
        )
        await self.app.dispatcher.feed_update(self.app.bot, update)
        return self.api.calls[before:]


def said(calls: list[Call]) -> str:
    return "\n".join(c.text for c in calls if c.method == "sendMessage")


def sizes(file_id: str) -> list[PhotoSize]:
    """What Telegram sends for one photo: the same picture in several sizes, the largest last."""
    return [
        PhotoSize(file_id=f"{file_id}-s", file_unique_id=f"{file_id}-us", width=90, height=68, file_size=1200),
        PhotoSize(file_id=file_id, file_unique_id=f"{file_id}-u", width=1280, height=960, file_size=len(PHOTO)),
        PhotoSize(file_id=f"{file_id}-m", file_unique_id=f"{file_id}-um", width=320, height=240, file_size=9000),
    ]


@pytest.fixture
async def bot(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[Bot]:
    await load_demo_data(sessionmaker, clock)
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": api.base_url, "chat_rate_limit": 50}
        )
        renderer = Renderer(settings.timezone)
        nlu = demo_nlu(**{"我要报修": "report_fault", "路边电线杆倒了": "report_fault"})
        conversations = build_conversations(settings, clock, nlu, renderer=renderer)
        app = build_telegram(
            settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
        )
        yield Bot(api, app)
        await app.aclose()


async def test_a_photo_and_a_location_sent_during_a_fault_report_end_on_the_ticket(
    bot: Bot, sessionmaker: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    account = await demo_account(sessionmaker, feeder="GS-F01")
    customer = User(id=930_001, is_bot=False, first_name="客户", language_code="zh-hans")
    assert "后四位" in said(await bot.send(customer, text=f"/bind {account.number}"))
    assert "验证通过" in said(await bot.send(customer, text=account.last4))

    assert "发生了什么" in said(await bot.send(customer, text="我要报修"))
    bot.api.add_file("photo-1", PHOTO)
    calls = await bot.send(customer, photo=sizes("photo-1"))
    assert [c.params.get("file_id") for c in calls if c.method == "getFile"] == ["photo-1"]  # the largest size
    assert [c.params["file_path"] for c in calls if c.method == "downloadFile"] == ["photos/photo-1.jpg"]
    assert "收到照片" in said(calls) and "发生了什么" in said(calls)

    reply = said(await bot.send(customer, text="路边电线杆倒了"))
    assert "安全第一" in reply and "故障在哪里" in reply
    reply = said(await bot.send(customer, location=Location(latitude=30.274085, longitude=120.15507)))
    assert "30.274085, 120.155070" in reply

    async with sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.telegram_chat_id == customer.id))
        assert identity is not None
        ticket = await session.scalar(select(FaultTicket).where(FaultTicket.identity_id == identity.id))
        assert ticket is not None
        attached = list(
            await session.scalars(
                select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id).order_by(TicketAttachment.id)
            )
        )
    assert ticket.reference in reply and ticket.urgent and ticket.account_id == account.id
    assert ticket.location == "30.274085, 120.155070"
    photo, place = attached
    assert (photo.kind, photo.file_id, photo.content_type, photo.content) == (
        AttachmentKind.PHOTO,
        "photo-1",
        "image/jpeg",
        PHOTO,
    )
    assert (place.kind, place.latitude, place.longitude, place.content) == (
        AttachmentKind.LOCATION,
        30.274085,
        120.15507,
        None,
    )

    # right after the report, a photo still goes onto the ticket; one Telegram will not hand over is kept by
    # its file id (and logged), never lost silently
    bot.api.fail_next("getFile", 400)
    with caplog.at_level(logging.WARNING, logger="gridtalk.bot"):
        reply = said(await bot.send(customer, photo=sizes("photo-2"), caption="杆子旁边"))
    assert ticket.reference in reply and "已附在工单" in reply
    assert any("could not fetch photo photo-2-u" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    async with sessionmaker() as session:
        later = await session.scalar(
            select(TicketAttachment).where(
                TicketAttachment.ticket_id == ticket.id, TicketAttachment.file_id == "photo-2"
            )
        )
    assert later is not None and later.content is None and later.kind == AttachmentKind.PHOTO


async def test_a_location_outside_a_fault_report_gets_a_polite_answer(bot: Bot, sessionmaker: Maker) -> None:
    customer = User(id=930_002, is_bot=False, first_name="Customer", language_code="en")
    calls = await bot.send(customer, location=Location(latitude=30.2, longitude=120.2))
    [answer] = [c for c in calls if c.method == "sendMessage"]
    assert "apart from photos and locations sent with a fault report" in answer.text
    assert {"text": "Report a fault", "callback_data": "intent:report_fault"} in answer.buttons
    async with sessionmaker() as session:
        assert list(await session.scalars(select(TicketAttachment))) == []
