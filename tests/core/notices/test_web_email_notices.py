"""A web chat customer with a verified email gets outage notices by email (a real SMTP server on loopback, the
worker's dispatcher in process); one without a verified address, or unsubscribed, gets nothing; Telegram
customers keep Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.db import session_scope
from core.models import Identity, IdentityAccount, UtilityAccount
from core.models.enums import ChatChannel, Language
from gridtalk.worker import run_worker
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import SmtpServer, channel_settings, draft, fake_channels, load_demo_world, rows
from tests.support.services import core_services

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    async with fake_channels() as pair:
        yield pair


async def web_customer(
    sessionmaker: Maker, clock: FrozenClock, account_id: int, email: str, *, verified: bool, subscribed: bool = True
) -> int:
    async with session_scope(sessionmaker) as session:
        identity = Identity(
            channel=ChatChannel.WEB,
            external_id=f"web-{email}",
            language=Language.EN,
            subscribed_notices=subscribed,
            email=email,
            email_verified_at=clock.now() if verified else None,
            created_at=clock.now(),
        )
        session.add(identity)
        await session.flush()
        session.add(IdentityAccount(identity_id=identity.id, account_id=account_id, verified_at=clock.now()))
        return identity.id


async def test_a_verified_web_chat_customer_gets_the_notice_by_email(
    sessionmaker: Maker, clock: FrozenClock, database_url: str, fakes: tuple[FakeTelegramApi, SmtpServer]
) -> None:
    api, smtp = fakes
    settings = channel_settings(database_url, api, smtp)
    await load_demo_world(sessionmaker, clock.now())
    async with sessionmaker() as session:
        accounts = list(
            await session.scalars(
                select(UtilityAccount.id)
                .where(UtilityAccount.area_code == "XH", UtilityAccount.account_number.not_like("3390%"))
                .order_by(UtilityAccount.id)
                .limit(3)
            )
        )
    verified = await web_customer(sessionmaker, clock, accounts[0], "li@home.test", verified=True)
    unverified = await web_customer(sessionmaker, clock, accounts[1], "wu@home.test", verified=False)
    left = await web_customer(sessionmaker, clock, accounts[2], "he@home.test", verified=True, subscribed=False)

    async with session_scope(sessionmaker) as session:
        services = core_services(clock, settings)
        outage = await services.outages.create(session, draft(clock.now() + timedelta(days=3)), actor_id=None)
        await services.outages.publish(session, outage.id, actor_id=None)
    await run_worker(settings, once=True, clock=clock)

    initial = await rows(sessionmaker, outage.id, stage="initial")
    [mine] = [d for d in initial if d.identity_id == verified]
    assert (mine.channel, mine.address, mine.status, mine.language) == ("email", "li@home.test", "sent", "en")
    assert not [d for d in initial if d.identity_id in (unverified, left)]
    [mail] = smtp.to("li@home.test")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and "10kV线路检修" in text.get_content()
    telegram = [d for d in initial if d.channel == "telegram" and d.identity_id is not None]
    assert telegram and {d.status for d in telegram} == {"sent"}  # the Telegram subscribers as before
    assert smtp.to("wu@home.test") == [] and smtp.to("he@home.test") == []
