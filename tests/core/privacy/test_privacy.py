"""A customer's export and erasure, and the transcript purge, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.dialogue import MemoryStateBackend, build_conversations
from core.errors import InvalidInput, NotFound
from core.models import (
    Application,
    ApplicationEvent,
    AuditLog,
    Conversation,
    Customer,
    FaultTicket,
    Feedback,
    FollowUp,
    Identity,
    IdentityAccount,
    Message,
    Survey,
    UtilityAccount,
)
from core.privacy import PrivacyService, Subject
from core.staff.audit import AuditService
from tests.support.dialogue import PHRASES, Chat, DemoAccount, demo_account, demo_nlu, load_demo_data

Maker = async_sessionmaker[AsyncSession]


def privacy(clock: FrozenClock) -> PrivacyService:
    return PrivacyService(clock, AuditService(clock))


async def bound_chat(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> tuple[Chat, DemoAccount, str]:
    """The demo data, and a web chat that bound an account, asked its bill, reported a fault and left a comment."""
    await load_demo_data(sessionmaker, clock)
    account = await demo_account(sessionmaker, feeder="BJ-F01")
    service = build_conversations(settings, clock, demo_nlu())
    async with session_scope(sessionmaker) as session:
        identity = await IdentityService(clock).start_web_session(session, "zh")
        session_id = identity.external_id
    chat = Chat(sessionmaker, service, identity.id, MemoryStateBackend(clock))
    say = PHRASES["zh"]
    for text in (say["bill_amount"], account.number, account.last4, say["bill_amount"], say["report_fault"]):
        await chat.send(text)
        clock.advance(timedelta(seconds=30))
    async with session_scope(sessionmaker) as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.identity_id == identity.id))
        assert conversation is not None
        session.add(
            Feedback(
                conversation_id=conversation.id,
                identity_id=identity.id,
                score=4,
                comment="电话 13812345678",
                created_at=clock.now(),
            )
        )
    return chat, account, session_id


async def audit_actions(sessionmaker: Maker) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


async def test_export_holds_everything_about_the_person(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    _chat, account, session_id = await bound_chat(sessionmaker, clock, settings)
    async with session_scope(sessionmaker) as session:
        by_account = await privacy(clock).export(session, Subject(account=account.number))
    async with session_scope(sessionmaker) as session:
        by_session = await privacy(clock).export(session, Subject(web_session=session_id))
    for data in (by_account, by_session):
        assert account.number in [a["account_number"] for a in data["accounts"]]
        assert len(data["customers"]) == 1 and data["customers"][0]["name"]
        assert session_id in [i["external_id"] for i in data["identities"]]
        assert [b["account_id"] for b in data["bindings"]] == [account.id]
        texts = [m["text"] for m in data["messages"]]
        assert PHRASES["zh"]["bill_amount"] in texts and account.last4 in texts
        assert len(data["tickets"]) == 1 and data["tickets"][0]["description"]
        assert [f["score"] for f in data["feedback"]] == [4]
        assert data["binding_attempts"]
    assert by_account["messages"] == by_session["messages"]
    actions = await audit_actions(sessionmaker)
    assert actions.count("customer.export") == 2
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(AuditLog).where(AuditLog.action == "customer.export")))
    assert all(r.staff_id is None and r.client == "cli" and r.target_type == "customer" for r in rows)
    assert all(account.number not in str(r.detail) and session_id not in str(r.detail) for r in rows)


async def test_erase_clears_personal_fields_and_keeps_statistics(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    chat, account, session_id = await bound_chat(sessionmaker, clock, settings)
    async with sessionmaker() as session:
        messages_before = await session.scalar(select(func.count()).select_from(Message))
        intents_before = list(await session.scalars(select(Message.intent).order_by(Message.id)))
        other = await session.scalar(select(UtilityAccount).where(UtilityAccount.id != account.id).limit(1))
        assert other is not None
        other_phone = other.phone
    async with session_scope(sessionmaker) as session:
        await privacy(clock).export(session, Subject(account=account.number))
    async with session_scope(sessionmaker) as session:
        report = await privacy(clock).erase(session, Subject(web_session=session_id))
    assert report.customers == 1 and report.identities >= 1 and report.messages >= 10

    async with sessionmaker() as session:
        row = await session.get(UtilityAccount, account.id)
        assert row is not None and (row.phone, row.address) == ("", "")
        customer = await session.get(Customer, row.customer_id)
        assert customer is not None and customer.name == "erased"
        identity = await session.get(Identity, chat.identity_id)
        assert identity is not None and identity.external_id != session_id
        messages = list(await session.scalars(select(Message).order_by(Message.id)))
        assert len(messages) == messages_before  # counts and intents stay
        assert [m.intent for m in messages] == intents_before
        assert all(m.text == "" and m.buttons == [] for m in messages)
        [ticket] = list(await session.scalars(select(FaultTicket).where(FaultTicket.identity_id == chat.identity_id)))
        assert (ticket.description, ticket.location) == ("", "") and ticket.status == "received"
        [feedback] = list(await session.scalars(select(Feedback)))
        assert (feedback.score, feedback.comment) == (4, None)
        binding = await session.get(IdentityAccount, (chat.identity_id, account.id))
        assert binding is not None and not binding.is_current
        untouched = await session.get(UtilityAccount, other.id)
        assert untouched is not None and untouched.phone == other_phone
    assert await audit_actions(sessionmaker) == ["customer.export", "customer.erase"]  # the audit survives

    with pytest.raises(NotFound):  # the session id is gone
        async with session_scope(sessionmaker) as session:
            await privacy(clock).export(session, Subject(web_session=session_id))
    async with session_scope(sessionmaker) as session:
        data = await privacy(clock).export(session, Subject(account=account.number))
    assert data["customers"][0]["name"] == "erased" and all(m["text"] == "" for m in data["messages"])


async def test_surveys_follow_ups_and_applications_are_exported_and_their_free_text_erased(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    chat, account, session_id = await bound_chat(sessionmaker, clock, settings)
    now = clock.now()
    async with session_scope(sessionmaker) as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.identity_id == chat.identity_id))
        assert conversation is not None
        survey = Survey(
            conversation_id=conversation.id,
            identity_id=chat.identity_id,
            account_id=account.id,
            channel="web",
            language="zh",
            trigger="thanked",
            sent_at=now,
            expires_at=now + timedelta(days=1),
            answered_at=now,
            score=1,
            created_at=now,
        )
        application = Application(
            account_id=account.id,
            kind="capacity_increase",
            stage="accepted",
            description="张先生家增容，电话 13812345678",
            stage_started_at=now,
            updated_at=now,
            created_at=now,
        )
        session.add_all([survey, application])
        await session.flush()
        session.add_all(
            [
                FollowUp(
                    survey_id=survey.id, due_at=now, state="closed", note="已回访张先生 13812345678", created_at=now
                ),
                ApplicationEvent(
                    application_id=application.id, kind="created", to_stage="accepted", note="客户张先生", at=now
                ),
            ]
        )
    async with session_scope(sessionmaker) as session:
        data = await privacy(clock).export(session, Subject(web_session=session_id))
    assert [v["score"] for v in data["surveys"]] == [1]
    assert [f["note"] for f in data["followups"]] == ["已回访张先生 13812345678"]
    assert [a["description"] for a in data["applications"]] == ["张先生家增容，电话 13812345678"]
    assert [e["note"] for e in data["application_events"]] == ["客户张先生"]

    async with session_scope(sessionmaker) as session:
        report = await privacy(clock).erase(session, Subject(account=account.number))
    assert (report.followups, report.applications) == (1, 1)
    async with sessionmaker() as session:
        followup = await session.scalar(select(FollowUp))
        kept = await session.get(Application, application.id)
        event = await session.scalar(select(ApplicationEvent))
        answered = await session.get(Survey, survey.id)
    assert followup is not None and followup.note is None and followup.state == "closed"
    assert kept is not None and kept.description == "" and kept.stage == "accepted"
    assert event is not None and event.note == ""
    assert answered is not None and answered.score == 1  # the statistics stay


async def test_a_subject_is_exactly_one_known_thing(sessionmaker: Maker, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput):
        Subject().kind()
    with pytest.raises(InvalidInput):
        Subject(account="3301234567", web_session="x").kind()
    for subject in (Subject(account="0000000000"), Subject(telegram_user="42"), Subject(web_session="nope")):
        with pytest.raises(NotFound):
            async with session_scope(sessionmaker) as session:
                await privacy(clock).erase(session, subject)


async def test_purge_clears_old_transcript_text_only_and_is_idempotent(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    await bound_chat(sessionmaker, clock, settings)
    async with sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Message))
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    async with session_scope(sessionmaker) as session:
        off = await privacy(clock).purge_transcripts(session, 0)
        young = await privacy(clock).purge_transcripts(session, 30)
    assert (off.cutoff, off.messages) == (None, 0) and (young.messages, young.comments) == (0, 0)

    clock.advance(timedelta(days=31))
    async with session_scope(sessionmaker) as session:
        dry = await privacy(clock).purge_transcripts(session, 30, dry_run=True)
    assert dry.messages == total and dry.comments == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(Message.text != "")) == total

    async with session_scope(sessionmaker) as session:
        done = await privacy(clock).purge_transcripts(session, 30)
    assert (done.messages, done.comments) == (total, 1)
    async with sessionmaker() as session:
        messages = list(await session.scalars(select(Message)))
        assert len(messages) == total and all(m.text == "" for m in messages)
        assert any(m.buttons for m in messages)  # payloads stay, titles go
        assert all(b["title"] == "" and b["payload"] for m in messages for b in m.buttons)
        assert any(m.intent for m in messages)
        assert await session.scalar(select(func.count()).select_from(Conversation)) == conversations
        [feedback] = list(await session.scalars(select(Feedback)))
        assert (feedback.score, feedback.comment) == (4, None)

    async with session_scope(sessionmaker) as session:
        again = await privacy(clock).purge_transcripts(session, 30)
    assert (again.messages, again.comments) == (0, 0)
    assert (await audit_actions(sessionmaker)).count("transcripts.purge") == 1
    async with sessionmaker() as session:
        [entry] = list(await session.scalars(select(AuditLog).where(AuditLog.action == "transcripts.purge")))
    assert entry.staff_id is None and entry.detail["messages"] == total


async def test_the_worker_purges_once_a_day_when_retention_is_on(
    sessionmaker: Maker, clock: FrozenClock, settings: Settings
) -> None:
    from gridtalk.worker import purge_transcripts_job

    await bound_chat(sessionmaker, clock, settings)
    off = purge_transcripts_job(sessionmaker, settings.model_copy(update={"retention_days": 0}), clock)
    job = purge_transcripts_job(sessionmaker, settings.model_copy(update={"retention_days": 30}), clock)
    clock.advance(timedelta(days=31))
    assert await off() == 0
    assert await job() > 0
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(Message.text != "")) == 0
    assert await job() == 0  # done for today
    clock.advance(timedelta(days=1))
    assert await job() == 0  # nothing left: idempotent
    assert (await audit_actions(sessionmaker)).count("transcripts.purge") == 1
    async with sessionmaker() as session:
        [entry] = list(await session.scalars(select(AuditLog).where(AuditLog.action == "transcripts.purge")))
    assert (entry.staff_id, entry.client) == (None, "worker")
