"""Fault reports beyond the ticket: "no power here" counted on a known fault outage (once per customer, no
ticket; a hazard still opens its urgent ticket), kept by feeder outside any outage until enough of them within
the window flag a probable fault (one open alert per feeder); photos and locations sent with a report; and the
customer's "still not fixed" written to the audit log. Through the conversation service, on a real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import Incoming, MemoryStateBackend, TurnResult, build_conversations
from core.faults.attachments import ATTACH_WINDOW, Location, Photo, image_type
from core.faults.hazards import reports_power_loss
from core.faults.reports import OutageReportRepository
from core.models import (
    AuditLog,
    FaultTicket,
    FeederAlert,
    Identity,
    Message,
    Outage,
    OutageReport,
    StaffUser,
    TicketAttachment,
)
from core.models.enums import AttachmentKind, TicketStatus
from core.services import CoreServices
from tests.fakes.nlu import FakeNlu
from tests.support.dialogue import Chat, DemoAccount, demo_account, demo_nlu, load_demo_data

Maker = async_sessionmaker[AsyncSession]
FAULT_FEEDER = "BJ-F01"  # the demo's fault outage under repair
QUIET_FEEDER = "GS-F01"  # no outage going on
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 a photo of a leaning pole \xff\xd9"
PHRASES = {
    "我家停电了": "report_fault",
    "家里停电了": "report_fault",
    "the power is out at my house": "report_fault",
    "停电了，门口电线掉下来了": "report_fault",
    "我要报修": "report_fault",
    "路边电线杆倒了": "report_fault",
}


@pytest.fixture
async def demo(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_demo_data(sessionmaker, clock)


async def bound_chat(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, language: str = "zh", **where: object
) -> tuple[Chat, DemoAccount]:
    nlu: FakeNlu = demo_nlu(**PHRASES)
    account = await demo_account(sessionmaker, **where)  # type: ignore[arg-type]
    service = build_conversations(settings, clock, nlu)
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, language)
    chat = Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))
    await chat.text(payload=f"bind:{account.number}")
    verified = await chat.text(account.last4)
    assert "验证通过" in verified or "Verified" in verified
    return chat, account


async def send(chat: Chat, incoming: Incoming) -> str:
    """A message with an attachment, as the Telegram transport hands it in (the Chat helper sends text only)."""
    async with session_scope(chat.sessionmaker) as session:
        identity = await session.get(Identity, chat.identity_id)
        assert identity is not None
        result: TurnResult = await chat.service.handle(session, identity, incoming, chat.store)
    chat.results.append(result)
    return "\n".join(reply.text for reply in result.replies)


async def rows(sessionmaker: Maker, model: Any, *where: Any) -> list[Any]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(model).where(*where).order_by(model.id)))


async def fault_outage(sessionmaker: Maker) -> Outage:
    async with sessionmaker() as session:
        outage = await session.scalar(
            select(Outage).where(Outage.kind == "unplanned", Outage.status == "published").order_by(Outage.id)
        )
        assert outage is not None and outage.estimated_restoration_at is not None
        return outage


async def reporters(sessionmaker: Maker, outage_id: int) -> int:
    async with sessionmaker() as session:
        return await OutageReportRepository(session).reporters_on(outage_id)


# ------------------------------------------------------------------------------------- pure reading


@pytest.mark.parametrize(
    ("text", "power_loss"),
    [
        ("我家停电了", True),
        ("整栋楼都没电了", True),
        ("停電了", True),
        ("整个小区都黑了", True),
        ("还没来电", True),
        ("the power is out at my house", True),
        ("we have no power", True),
        ("blackout on our street", True),
        ("下个月有计划停电吗", False),
        ("来电了吗", False),
        ("the power is back", False),
        ("总闸一推就跳", False),
        ("my bill is too high", False),
    ],
)
def test_what_reads_as_no_power_here(text: str, power_loss: bool) -> None:
    assert reports_power_loss(text) is power_loss


# --------------------------------------------------------------------- counted on the known outage


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_no_power_inside_a_fault_outage_is_counted_once_per_customer_and_opens_no_ticket(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None, language: str
) -> None:
    outage = await fault_outage(sessionmaker)
    before = await reporters(sessionmaker, outage.id)
    restoration = outage.estimated_restoration_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    says = "我家停电了" if language == "zh" else "the power is out at my house"
    first, account = await bound_chat(sessionmaker, clock, settings, language, feeder=FAULT_FEEDER)

    text = await first.text(says)
    assert restoration in text and "江南线" in text
    if language == "zh":
        assert "这次停电我们已经知道了" in text and f"目前共有 {before + 1} 位客户报告了这次停电" in text
        assert "先告诉您" not in text  # the outage is this answer: not announced a second time
    else:
        assert "We know about this outage" in text and f"({before + 1} customer" in text
        assert "First, so you know" not in text
    assert first.payloads == []  # no form left open: nothing to answer
    again = await first.text(says)
    assert ("之前已经报告过" in again) if language == "zh" else ("You reported it already" in again)
    assert str(before + 1) in again  # counted once

    second, _ = await bound_chat(sessionmaker, clock, settings, language, feeder=FAULT_FEEDER, skip=1)
    assert str(before + 2) in await second.text(says)

    assert (
        await rows(sessionmaker, FaultTicket, FaultTicket.identity_id.in_([first.identity_id, second.identity_id]))
        == []
    )
    mine = await rows(sessionmaker, OutageReport, OutageReport.identity_id == first.identity_id)
    assert [(r.outage_id, r.account_id, r.feeder_code, r.ticket_id) for r in mine] == [
        (outage.id, account.id, FAULT_FEEDER, None)
    ]
    assert await reporters(sessionmaker, outage.id) == before + 2


async def test_a_hazard_inside_a_fault_outage_still_opens_an_urgent_ticket(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    outage = await fault_outage(sessionmaker)
    before = await reporters(sessionmaker, outage.id)
    chat, account = await bound_chat(sessionmaker, clock, settings, feeder=FAULT_FEEDER)
    result = await chat.send("停电了，门口电线掉下来了")
    said = [reply.text for reply in result.replies]
    [ticket] = await rows(sessionmaker, FaultTicket, FaultTicket.identity_id == chat.identity_id)
    assert ticket.urgent and ticket.hazard and ticket.location == account.address
    with_ticket = next(i for i, text in enumerate(said) if ticket.reference in text)
    assert any("安全第一" in text for text in said[:with_ticket])  # the safety instruction before the ticket
    assert said[-1].startswith("先告诉您")  # the outage after them: safety first
    assert not any("这次停电我们已经知道了" in text for text in said)  # a hazard is not counted away
    assert ticket.outage_id == outage.id  # part of the known outage, and counted on it with its ticket
    [report] = await rows(sessionmaker, OutageReport, OutageReport.identity_id == chat.identity_id)
    assert (report.outage_id, report.ticket_id) == (outage.id, ticket.id)
    assert await reporters(sessionmaker, outage.id) == before + 1


async def test_no_power_outside_any_outage_opens_a_ticket_kept_by_feeder(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat, account = await bound_chat(sessionmaker, clock, settings, feeder=QUIET_FEEDER)
    assert "有没有危险" in await chat.text("家里停电了")  # at home: the address is the place
    text = await chat.text("没有")
    [ticket] = await rows(sessionmaker, FaultTicket, FaultTicket.identity_id == chat.identity_id)
    assert ticket.reference in text and ticket.outage_id is None and not ticket.urgent
    [report] = await rows(sessionmaker, OutageReport, OutageReport.identity_id == chat.identity_id)
    assert (report.outage_id, report.feeder_code, report.account_id, report.ticket_id) == (
        None,
        QUIET_FEEDER,
        account.id,
        ticket.id,
    )
    other, _ = await bound_chat(sessionmaker, clock, settings, feeder=QUIET_FEEDER, skip=1)
    await other.text("路边电线杆倒了")  # a fault, and a hazard, but not "no power": no report by feeder
    await other.text("文三路口")
    assert await rows(sessionmaker, OutageReport, OutageReport.identity_id == other.identity_id) == []
    assert len(await rows(sessionmaker, FaultTicket, FaultTicket.identity_id == other.identity_id)) == 1


# ------------------------------------------------------------------------------- clusters by feeder


async def report_no_power(sessionmaker: Maker, clock: FrozenClock, settings: Settings, skip: int) -> Chat:
    chat, _ = await bound_chat(sessionmaker, clock, settings, feeder=QUIET_FEEDER, skip=skip)
    await chat.text("家里停电了")
    await chat.text("没有")
    return chat


async def test_enough_reports_on_a_feeder_within_the_window_flag_one_probable_fault(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"fault_cluster_reports": 3, "fault_cluster_minutes": 30})
    start = clock.now()

    async def alerts() -> list[FeederAlert]:
        return await rows(sessionmaker, FeederAlert, FeederAlert.feeder_code == QUIET_FEEDER)

    await report_no_power(sessionmaker, clock, settings, 0)  # A at 0'
    clock.advance(timedelta(minutes=10))
    b = await report_no_power(sessionmaker, clock, settings, 1)  # B at 10'
    b_at = clock.now()
    clock.advance(timedelta(minutes=25))
    await report_no_power(sessionmaker, clock, settings, 2)  # C at 35': A is out of the window, 2 within it
    assert await alerts() == []
    clock.advance(timedelta(minutes=3))
    await report_no_power(sessionmaker, clock, settings, 3)  # D at 38': B, C, D within 30 minutes
    [alert] = await alerts()
    assert (alert.reports, alert.first_report_at, alert.closed_at, alert.outage_id) == (3, b_at, None, None)
    assert any("probable fault on feeder GS-F01" in r.getMessage() for r in caplog.records)

    clock.advance(timedelta(minutes=1))
    await report_no_power(sessionmaker, clock, settings, 4)  # E at 39': the open alert counts it, no second one
    await b.text("家里停电了")  # B again: one customer counts once
    await b.text("没有")
    [alert] = await alerts()
    assert alert.reports == 4
    assert len(await rows(sessionmaker, OutageReport, OutageReport.feeder_code == QUIET_FEEDER)) == 6

    async with session_scope(sessionmaker) as session:  # staff looked at it and closed it
        closing = await session.get(FeederAlert, alert.id)
        assert closing is not None
        closing.closed_at = clock.now()
    clock.advance(timedelta(minutes=1))
    await report_no_power(sessionmaker, clock, settings, 5)  # F at 40': those up to the close do not count again
    assert len(await alerts()) == 1
    clock.advance(timedelta(minutes=1))
    await report_no_power(sessionmaker, clock, settings, 6)
    clock.advance(timedelta(minutes=1))
    await report_no_power(sessionmaker, clock, settings, 7)  # three new ones: a new alert
    closed, fresh = await alerts()
    assert closed.closed_at is not None and fresh.closed_at is None and fresh.reports == 3
    assert fresh.first_report_at == start + timedelta(minutes=40)  # F, G, H (at 40, 41, 42 minutes)


# -------------------------------------------------------------------------- photos and locations


async def test_photos_and_locations_go_onto_the_report_and_nowhere_else(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat, _ = await bound_chat(sessionmaker, clock, settings, feeder=QUIET_FEEDER)
    outside = await send(chat, Incoming(attachment=Photo(JPEG, "image/jpeg", "file-0")))
    assert "只能看懂文字消息" in outside and "报修" in outside and "intent:report_fault" in chat.payloads
    assert await rows(sessionmaker, TicketAttachment) == []

    assert "发生了什么" in await chat.text("我要报修")
    kept = await send(chat, Incoming(attachment=Photo(JPEG, "image/png", "file-1")))  # the bytes say JPEG
    assert "收到照片" in kept and "发生了什么" in kept  # kept for the ticket; the question again
    captioned = await send(chat, Incoming(text="路边电线杆倒了", attachment=Photo(JPEG, file_id="file-2")))
    assert "安全第一" in captioned and "故障在哪里" in captioned and "收到照片" in captioned
    text = await send(chat, Incoming(attachment=Location(30.274085, 120.15507)))
    assert "30.274085, 120.155070" in text  # the place, and the ticket opens (the hazard is known)
    [ticket] = await rows(sessionmaker, FaultTicket, FaultTicket.identity_id == chat.identity_id)
    assert ticket.location == "30.274085, 120.155070" and ticket.urgent and ticket.reference in text
    assert "共 3 项" in text
    attached = await rows(sessionmaker, TicketAttachment, TicketAttachment.ticket_id == ticket.id)
    assert [(a.kind, a.file_id, a.content, a.content_type) for a in attached[:2]] == [
        (AttachmentKind.PHOTO, "file-1", JPEG, "image/jpeg"),
        (AttachmentKind.PHOTO, "file-2", JPEG, "image/jpeg"),
    ]
    assert (attached[2].kind, attached[2].latitude, attached[2].longitude) == (
        AttachmentKind.LOCATION,
        30.274085,
        120.15507,
    )

    clock.advance(ATTACH_WINDOW - timedelta(minutes=1))  # shortly after: onto the same ticket
    later = await send(chat, Incoming(attachment=Location(30.3, 120.2)))
    assert ticket.reference in later and "已附在工单" in later
    assert len(await rows(sessionmaker, TicketAttachment, TicketAttachment.ticket_id == ticket.id)) == 4
    clock.advance(timedelta(minutes=2))  # too long after: not taken
    assert "只能看懂文字消息" in await send(chat, Incoming(attachment=Photo(JPEG, file_id="file-3")))
    assert len(await rows(sessionmaker, TicketAttachment)) == 4

    async with sessionmaker() as session:  # the transcript says what came
        notes = list(
            await session.scalars(select(Message.text).where(Message.direction == "in", Message.text.like("[%")))
        )
    assert "[照片] 路边电线杆倒了" in notes and "[位置 30.274085, 120.155070]" in notes


def test_a_photo_is_an_image_whatever_it_claims() -> None:
    assert image_type(JPEG) == "image/jpeg" and image_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert image_type(b"<html><script>") is None
    with pytest.raises(Exception, match="not a JPEG"):
        Photo(b"<html><script>alert(1)</script>", "image/jpeg", "x")
    with pytest.raises(Exception, match="latitude"):
        Location(95.0, 10.0)
    with pytest.raises(Exception, match="payload"):
        Incoming(payload="menu", attachment=Location(1.0, 2.0))


# ------------------------------------------------------------------------------- reopened: audited


async def test_still_not_fixed_reopens_the_ticket_and_the_audit_log_says_the_customer_did(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings, demo: None
) -> None:
    chat, _ = await bound_chat(sessionmaker, clock, settings, feeder=QUIET_FEEDER)
    await chat.text("家里停电了")
    await chat.text("没有")
    [ticket] = await rows(sessionmaker, FaultTicket, FaultTicket.identity_id == chat.identity_id)
    core = CoreServices.build(settings, clock)
    async with session_scope(sessionmaker) as session:
        admin = await session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
        assert admin is not None
        await core.tickets.set_status(session, ticket.id, TicketStatus.CLOSED, "", actor=admin, owner_id=None)
    clock.advance(timedelta(minutes=5))
    assert ticket.reference in await chat.text(payload=f"ticket:reopen:{ticket.id}")
    entries = await rows(sessionmaker, AuditLog, AuditLog.target_id == str(ticket.id))
    assert [(e.action, e.staff_id is None) for e in entries] == [("ticket.status", False), ("ticket.status", True)]
    reopened = entries[-1]
    assert reopened.detail["from"] == "closed" and reopened.detail["to"] == "received"
    assert reopened.detail["by"] == "customer" and reopened.detail["identity_id"] == chat.identity_id
    assert reopened.at == clock.now() and reopened.target_type == "fault_ticket"
    await chat.text(payload=f"ticket:reopen:{ticket.id}")  # already received: nothing changes, nothing written
    assert len(await rows(sessionmaker, AuditLog, AuditLog.target_id == str(ticket.id))) == 2
