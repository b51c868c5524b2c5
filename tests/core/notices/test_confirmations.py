"""The final confirmation: Confirm and Problem (by identity, or by the chat a key-account contact got it in),
"已收到" in free text, and the chase when nobody at a key account answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.clock import FrozenClock
from core.db import session_scope
from core.errors import Conflict, NotFound
from core.models import Escalation, Identity, NoticeDelivery
from core.models.enums import Tier
from core.notices.dispatcher import Dispatcher
from core.notices.render import NoticeRenderer
from core.outages.overview_repository import OverviewRepository
from core.outages.service import OutageChanges
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import (
    TOKEN,
    WANG_CHAT,
    SmtpServer,
    channel_settings,
    draft,
    fake_channels,
    load_demo_world,
    notice_settings,
    rows,
    staff_id,
    xh_identities,
)
from tests.support.services import confirmations, core_services

CONTACT_A, CONTACT_B = 720_000_009, 720_000_010


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegramApi, SmtpServer]]:
    async with fake_channels() as pair:
        yield pair


@pytest.fixture
async def outage_id(sessionmaker, clock: FrozenClock, database_url: str) -> int:  # type: ignore[no-untyped-def]
    """An outage in Xihu starting in 20 minutes: its initial notice and final confirmation, both sent now."""
    await load_demo_world(sessionmaker, clock.now())
    settings = notice_settings(database_url, telegram_token=TOKEN, smtp_host="127.0.0.1")
    async with session_scope(sessionmaker) as session:
        outage = await core_services(clock, settings).outages.create(
            session, draft(clock.now() + timedelta(minutes=20)), actor_id=None
        )
        await core_services(clock, settings).outages.publish(session, outage.id, actor_id=None)
        await session.flush()
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage.id)
            .values(status="sent", sent_at=clock.now(), attempts=1)
        )
        return outage.id


def settings_for(database_url: str):  # type: ignore[no-untyped-def]
    return notice_settings(database_url, telegram_token=TOKEN, smtp_host="127.0.0.1")


async def final_of(sessionmaker, outage_id: int, chat_id: int) -> NoticeDelivery:  # type: ignore[no-untyped-def]
    [row] = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.telegram_chat_id == chat_id]
    return row


async def test_confirm_from_a_key_account_contacts_chat_sets_acked_at(
    outage_id: int, sessionmaker, clock: FrozenClock
) -> None:
    final = await final_of(sessionmaker, outage_id, CONTACT_A)
    clock.advance(timedelta(minutes=3))
    async with session_scope(sessionmaker) as session:
        done = await confirmations(clock).acknowledge(session, final.id, chat_id=CONTACT_A)
    assert not done.already and done.stage == "30m"
    assert done.key_account is not None and done.key_account.manager_name == "王建国"
    mine = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.key_contact_id == final.key_contact_id]
    assert {d.channel: (d.status, d.acked_at) for d in mine} == {
        "telegram": ("acked", clock.now()),
        "email": ("acked", clock.now()),  # the same notice, the same person
    }
    other = await final_of(sessionmaker, outage_id, CONTACT_B)
    assert (other.status, other.acked_at) == ("sent", None)

    clock.advance(timedelta(minutes=1))
    async with session_scope(sessionmaker) as session:
        again = await confirmations(clock).acknowledge(session, final.id, chat_id=CONTACT_A)
    assert again.already
    assert (await final_of(sessionmaker, outage_id, CONTACT_A)).acked_at == clock.now() - timedelta(minutes=1)


async def test_only_the_recipient_may_confirm_and_only_what_was_sent(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    final = await final_of(sessionmaker, outage_id, CONTACT_A)
    with pytest.raises(NotFound):
        async with session_scope(sessionmaker) as session:
            await confirmations(clock).acknowledge(session, final.id, chat_id=CONTACT_B)
    with pytest.raises(NotFound):
        async with session_scope(sessionmaker) as session:
            await confirmations(clock).acknowledge(session, 10**9, chat_id=CONTACT_A)
    async with session_scope(sessionmaker) as session:
        identity = (await xh_identities(session))[0]
    mine = next(d for d in await rows(sessionmaker, outage_id, stage="30m") if d.identity_id == identity.id)
    async with session_scope(sessionmaker) as session:  # an identity confirms by its id, whatever the chat
        assert not (await confirmations(clock).acknowledge(session, mine.id, identity_id=identity.id)).already
    async with session_scope(sessionmaker) as session:
        await session.execute(update(NoticeDelivery).where(NoticeDelivery.id == final.id).values(status="pending"))
    with pytest.raises(Conflict):
        async with session_scope(sessionmaker) as session:
            await confirmations(clock).acknowledge(session, final.id, chat_id=CONTACT_A)
    other = await final_of(sessionmaker, outage_id, CONTACT_B)
    async with session_scope(sessionmaker) as session:
        await core_services(clock, settings_for(database_url)).outages.cancel(session, outage_id, actor_id=None)
    with pytest.raises(Conflict):
        async with session_scope(sessionmaker) as session:
            await confirmations(clock).acknowledge(session, other.id, chat_id=CONTACT_B)


async def test_free_text_confirms_the_latest_open_final_confirmation(
    outage_id: int, sessionmaker, clock: FrozenClock
) -> None:
    async with session_scope(sessionmaker) as session:
        done = await confirmations(clock).acknowledge_latest_open(session, chat_id=CONTACT_B)
    assert done is not None and done.stage == "30m"
    assert (await final_of(sessionmaker, outage_id, CONTACT_B)).status == "acked"
    initial = [d for d in await rows(sessionmaker, outage_id, stage="initial") if d.telegram_chat_id == CONTACT_B]
    assert initial[0].status == "sent"
    async with session_scope(sessionmaker) as session:  # next: the initial notice is the latest open one
        done = await confirmations(clock).acknowledge_latest_open(session, chat_id=CONTACT_B)
    assert done is not None and done.stage == "initial"
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock).acknowledge_latest_open(session, chat_id=CONTACT_B) is None
        assert await confirmations(clock).acknowledge_latest_open(session, chat_id=799_999_999) is None


async def test_problem_escalates_to_the_account_manager_and_alerts_them(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = settings_for(database_url)
    final = await final_of(sessionmaker, outage_id, CONTACT_A)
    async with session_scope(sessionmaker) as session:
        done = await confirmations(clock, settings).report_problem(session, final.id, chat_id=CONTACT_A)
        wang = await staff_id(session, "manager.wang")
    async with sessionmaker() as session:
        [escalation] = list(await session.scalars(select(Escalation)))
    assert (escalation.reason, escalation.priority, escalation.delivery_id) == ("notice_problem", "high", final.id)
    assert (escalation.assigned_to_id, escalation.state) == (wang, "assigned")
    assert done.escalation_id == escalation.id
    alerts = await rows(sessionmaker, outage_id, stage="problem")
    assert {(d.channel, d.address, d.tier) for d in alerts} == {
        ("telegram", str(WANG_CHAT), Tier.STAFF),
        ("email", "manager.wang@example.com", Tier.STAFF),
    }
    assert {d.next_attempt_at for d in alerts} == {clock.now()}  # due now
    async with session_scope(sessionmaker) as session:  # pressing again changes nothing
        again = await confirmations(clock, settings).report_problem(session, final.id, chat_id=CONTACT_A)
    assert again.already and again.escalation_id == escalation.id
    assert len(await rows(sessionmaker, outage_id, stage="problem")) == 2

    async with session_scope(sessionmaker) as session:  # a residential customer: an escalation, no manager
        identity = (await xh_identities(session))[0]
    mine = next(d for d in await rows(sessionmaker, outage_id, stage="30m") if d.identity_id == identity.id)
    async with session_scope(sessionmaker) as session:
        done = await confirmations(clock, settings).report_problem(session, mine.id, identity_id=identity.id)
        escalation_row = await session.get(Escalation, done.escalation_id)
        assert escalation_row is not None
        assert (escalation_row.state, escalation_row.assigned_to_id, escalation_row.identity_id) == (
            "pending",
            None,
            identity.id,
        )
    assert len(await rows(sessionmaker, outage_id, stage="problem")) == 2


async def test_unconfirmed_after_n_minutes_alerts_the_manager_once(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    settings = settings_for(database_url)
    clock.advance(timedelta(minutes=9, seconds=59))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings).chase_unconfirmed(session) == 0
    clock.advance(timedelta(seconds=1))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings).chase_unconfirmed(session) == 1  # the one key account in Xihu
    final = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.segment == "key_account"]
    assert final and {d.unconfirmed_alerted_at for d in final} == {clock.now()}
    residential = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.segment != "key_account"]
    assert {d.unconfirmed_alerted_at for d in residential} == {None}  # nobody to chase them
    alerts = await rows(sessionmaker, outage_id, stage="alert")
    assert {(d.channel, d.address) for d in alerts} == {
        ("telegram", str(WANG_CHAT)),
        ("email", "manager.wang@example.com"),
    }
    clock.advance(timedelta(minutes=5))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings).chase_unconfirmed(session) == 0
    assert len(await rows(sessionmaker, outage_id, stage="alert")) == 2


async def test_one_contact_confirming_confirms_the_key_account(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    final = await final_of(sessionmaker, outage_id, CONTACT_B)
    async with session_scope(sessionmaker) as session:
        await confirmations(clock).acknowledge(session, final.id, chat_id=CONTACT_B)
    clock.advance(timedelta(minutes=30))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings_for(database_url)).chase_unconfirmed(session) == 0
    assert await rows(sessionmaker, outage_id, stage="alert") == []


async def owed(sessionmaker, outage_id: int) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """The console overview's key accounts whose final confirmation is owed: (outage, name)."""
    async with sessionmaker() as session:
        return [(o, name) for o, _, name, _, _ in await OverviewRepository(session).unconfirmed([outage_id])]


async def test_a_rescheduled_final_notice_is_owed_once_in_its_latest_round(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    """Moved after its final confirmation went out: the earlier round is moot (the new one will ask), the
    console and the chase agree on it, and a confirmation of the new round settles the account."""
    settings = settings_for(database_url)
    assert await owed(sessionmaker, outage_id) == [(outage_id, "城西自来水厂")]
    clock.advance(timedelta(minutes=2))
    start = clock.now() + timedelta(hours=2)
    async with session_scope(sessionmaker) as session:
        changes = OutageChanges(starts_at=start, ends_at=start + timedelta(hours=6))
        await core_services(clock, settings).outages.update(session, outage_id, changes, actor_id=None)
    assert await owed(sessionmaker, outage_id) == []
    clock.advance(timedelta(minutes=10))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings).chase_unconfirmed(session) == 0  # the moved round
    assert await rows(sessionmaker, outage_id, stage="alert") == []

    async with session_scope(sessionmaker) as session:  # the new round's final notice goes out
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.outage_id == outage_id, NoticeDelivery.stage == "30m", NoticeDelivery.revision == 1)
            .values(status="sent", sent_at=clock.now(), attempts=1)
        )
    assert await owed(sessionmaker, outage_id) == [(outage_id, "城西自来水厂")]
    [new] = [
        d for d in await rows(sessionmaker, outage_id, stage="30m") if d.telegram_chat_id == CONTACT_B and d.revision
    ]
    async with session_scope(sessionmaker) as session:
        await confirmations(clock).acknowledge(session, new.id, chat_id=CONTACT_B)
    assert await owed(sessionmaker, outage_id) == []
    clock.advance(timedelta(minutes=30))
    async with session_scope(sessionmaker) as session:
        assert await confirmations(clock, settings).chase_unconfirmed(session) == 0
    assert await rows(sessionmaker, outage_id, stage="alert") == []


async def test_the_manager_alert_goes_out_on_telegram_and_by_email(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str, fakes: tuple[FakeTelegramApi, SmtpServer]
) -> None:
    api, smtp = fakes
    settings = channel_settings(database_url, api, smtp)
    clock.advance(timedelta(minutes=10))
    async with session_scope(sessionmaker) as session:
        await confirmations(clock, settings).chase_unconfirmed(session)
    dispatcher = Dispatcher(sessionmaker, clock, settings, build_channels(settings), NoticeRenderer(Renderer()))
    try:
        assert await dispatcher.run_once() == 2
    finally:
        await dispatcher.aclose()
    [call] = api.sent()
    assert call.chat_id == WANG_CHAT
    assert "停电确认未回复" in call.text and "城西自来水厂" in call.text
    assert "郑国华" in call.text and "冯涛" in call.text
    [mail] = smtp.to("manager.wang@example.com")
    assert "城西自来水厂" in str(mail["Subject"])
    assert {d.status for d in await rows(sessionmaker, outage_id, stage="alert")} == {"sent"}


async def test_the_dialogue_responder_answers_buttons_and_free_text(
    outage_id: int, sessionmaker, clock: FrozenClock, database_url: str
) -> None:
    responder = core_services(clock, settings_for(database_url)).notice_responder()
    final = await final_of(sessionmaker, outage_id, CONTACT_A)
    async with session_scope(sessionmaker) as session:  # the contact, as the bot knows them: an identity
        contact = Identity(
            channel="telegram", external_id=str(CONTACT_A), telegram_chat_id=CONTACT_A, created_at=clock.now()
        )
        session.add(contact)
        await session.flush()
        [reply] = await responder.on_payload(session, contact, f"notice:ack:{final.id}", "zh") or []
        assert "已收到您的确认" in reply.text and "王建国" in reply.text
        [reply] = await responder.on_payload(session, contact, f"notice:problem:{final.id}", "en") or []
        assert "account manager 王建国" in reply.text
        assert await responder.on_payload(session, contact, "notice:ack:999999", "zh") is None
        assert await responder.on_payload(session, contact, "notice:something", "zh") is None
    async with session_scope(sessionmaker) as session:
        identity = (await xh_identities(session))[2]
        [reply] = await responder.on_ack_text(session, identity, "已收到", "zh") or []
        assert "已收到您的确认" in reply.text
    mine = [d for d in await rows(sessionmaker, outage_id, stage="30m") if d.identity_id == identity.id]
    assert mine[0].status == "acked"
