"""The console's fault tickets show what the customer sent with them: a photo's thumbnail (served by a guarded
route: TICKETS_HANDLE, and an account manager only for their own key accounts) and a location's coordinates."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.models import FaultTicket, KeyAccountProfile, StaffUser, TicketAttachment, UtilityAccount
from core.models.enums import AttachmentKind, TicketStatus
from tests.fakes.nlu import FakeNlu
from tests.support.notices import SHANGHAI, load_demo_world

Maker = async_sessionmaker[AsyncSession]
PASSWORD = "gridtalk-demo"
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 the meter box, burnt \xff\xd9"


@pytest.fixture
async def http(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    await load_demo_world(sessionmaker, clock.now())
    app = create_app(settings, clock=clock, nlu=FakeNlu({}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def sign_in(http: httpx.AsyncClient, username: str) -> None:
    response = await http.post("/console/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text


async def ticket_with_attachments(sessionmaker: Maker, clock: FrozenClock, account_id: int, reference: str) -> int:
    """A ticket of the account with a photo, a photo Telegram would not hand over, and a location."""
    async with session_scope(sessionmaker) as session:
        ticket = FaultTicket(
            reference=reference,
            account_id=account_id,
            location="30.274085, 120.155070",
            description="表箱烧焦了",
            hazard=True,
            urgent=True,
            status=TicketStatus.RECEIVED,
            created_at=clock.now(),
        )
        session.add(ticket)
        await session.flush()
        now = clock.now()
        session.add_all(
            [
                TicketAttachment(
                    ticket_id=ticket.id,
                    kind=AttachmentKind.PHOTO,
                    file_id="tg-1",
                    content=PHOTO,
                    content_type="image/jpeg",
                    created_at=now,
                ),
                TicketAttachment(ticket_id=ticket.id, kind=AttachmentKind.PHOTO, file_id="tg-2", created_at=now),
                TicketAttachment(
                    ticket_id=ticket.id,
                    kind=AttachmentKind.LOCATION,
                    latitude=30.274085,
                    longitude=120.15507,
                    created_at=now,
                ),
            ]
        )
        return ticket.id


async def accounts(sessionmaker: Maker) -> tuple[int, int]:
    """A key account manager.wang manages, and a residential account (nobody's)."""
    async with sessionmaker() as session:
        own = await session.scalar(
            select(KeyAccountProfile.account_id)
            .join(StaffUser, StaffUser.id == KeyAccountProfile.account_manager_id)
            .where(StaffUser.username == "manager.wang")
            .limit(1)
        )
        other = await session.scalar(
            select(UtilityAccount.id)
            .where(UtilityAccount.id.not_in(select(KeyAccountProfile.account_id)))
            .order_by(UtilityAccount.id)
            .limit(1)
        )
    assert own is not None and other is not None
    return own, other


def attachment_ids(page: str, ticket_id: int) -> list[int]:
    return [int(found) for found in re.findall(rf'<img src="/console/tickets/{ticket_id}/attachments/(\d+)"', page)]


async def test_tickets_show_their_photos_and_locations_to_those_who_may_see_them(
    http: httpx.AsyncClient, sessionmaker: Maker, clock: FrozenClock
) -> None:
    own_account, other_account = await accounts(sessionmaker)
    own = await ticket_with_attachments(sessionmaker, clock, own_account, "F261130-OWN2")
    other = await ticket_with_attachments(sessionmaker, clock, other_account, "F261130-OTH3")

    await sign_in(http, "agent.li")
    page = (await http.get("/console/tickets")).text
    assert "F261130-OWN2" in page and "F261130-OTH3" in page
    [photo] = attachment_ids(page, other)
    assert 'alt="客户发来的照片 1"' in page and "客户发来的位置" in page and "未能从 Telegram 取回" in page
    assert '<span class="coordinates">30.274085, 120.155070</span>' in page  # plain text: no map, no link out
    served = await http.get(f"/console/tickets/{other}/attachments/{photo}")
    assert served.status_code == 200 and served.content == PHOTO
    assert served.headers["content-type"] == "image/jpeg" and served.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in served.headers["cache-control"]
    english = (await http.get("/console/tickets", params={"lang": "en"})).text
    assert "Photo 1 sent by the customer" in english and "Location sent" in english

    async with sessionmaker() as session:  # the location and the photo that never arrived serve nothing
        others = list(
            await session.scalars(
                select(TicketAttachment.id).where(TicketAttachment.ticket_id == other, TicketAttachment.id != photo)
            )
        )
    for attachment in others:
        assert (await http.get(f"/console/tickets/{other}/attachments/{attachment}")).status_code == 404
    assert (await http.get(f"/console/tickets/{own}/attachments/{photo}")).status_code == 404  # another ticket's

    await sign_in(http, "manager.wang")  # an account manager: their own key accounts only
    page = (await http.get("/console/tickets")).text
    assert "F261130-OWN2" in page and "F261130-OTH3" not in page
    [own_photo] = attachment_ids(page, own)
    assert (await http.get(f"/console/tickets/{own}/attachments/{own_photo}")).content == PHOTO
    assert (await http.get(f"/console/tickets/{other}/attachments/{photo}")).status_code == 404

    http.cookies.clear()
    anonymous = await http.get(f"/console/tickets/{other}/attachments/{photo}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login")
