"""A small hand-made data set for the KPI dashboard, on the staff and accounts of the feedback data set (K1 is
wang's key account, K2 zhao's). The tests' clock is 2026-11-23 09:30 UTC: Monday 17:30 in Shanghai (W48); the
first-response target is 5 minutes. The figures the tests expect are worked out by hand in test_dashboard.py.

Conversations (Shanghai time; "msgs": the customer's messages, with the NLU's intent and confidence; a button
press and a message read by the keyword rules have no confidence):

| conv | started           | account  | msgs                                         | escalation (first reply)  |
|------|-------------------|----------|----------------------------------------------|---------------------------|
| c0   | Mon 24 Nov 2025   | —        | greet .9                                     | —                         |
| c1   | Tue 10 Nov 10:00  | resident | bill_amount .9, nlu_fallback .3              | —                         |
| c2   | Wed 11 Nov 10:00  | K1       | nlu_fallback .2, button                      | e2 10:01 (+120 s)         |
| c3   | Mon 16 Nov 00:00  | resident | greet .95, button                            | e3 00:02 (+600 s)         |
| c4   | Thu 19 Nov 12:00  | K2       | outage_status .8                             | e4 12:00 (+300 s)         |
| c5   | Mon 23 Nov 08:00  | resident | keyword nlu_fallback, report_fault .7        | e5 08:05 (none: overdue)  |
| c6   | Mon 23 Nov 17:28  | resident | human_handoff .9                             | e6 17:28 (none: not yet)  |
| c7   | Mon 23 Nov 00:30  | resident | greet .99 (Sunday in UTC: still W48)         | —                         |
| c8   | Tue 17 Nov 09:00  | —        | none (a web session nobody wrote in)         | —                         |
| c9   | Thu 1 Oct 10:00   | resident | nlu_fallback .1                              | e9 10:01 (+60 s)          |

Plus e10, a hand-off without a conversation (a key account's notice problem, K1) on Wed 18 Nov 10:00, answered
after 60 s; and a bot reply (out) of c1 labelled nlu_fallback.

Surveys: s1 (c1, Tue 10 Nov, 5), s2 (c2, K1, Mon 16 Nov, 2), s3 (c4, K2, Mon 23 Nov 09:00, 4), s4 (c3, Tue 17
Nov, unanswered), s5 (c7, Mon 23 Nov 01:00, 3).

Notice deliveries of one outage (due, Shanghai time):

| d   | stage    | segment     | account | due         | status    |
|-----|----------|-------------|---------|-------------|-----------|
| d1  | 15d      | key_account | K1      | Tue 10 Nov  | sent      |
| d2  | 15d      | key_account | K2      | Tue 10 Nov  | failed    |
| d3  | 30m      | key_account | K1      | Wed 18 Nov  | acked     |
| d4  | 30m      | key_account | K2      | Wed 18 Nov  | sent      |
| d5  | 30m      | key_account | K2      | Mon 23 Nov  | failed    |
| d6  | 30m      | key_account | K1      | Mon 23 Nov  | cancelled |
| d7  | 15d      | residential | —       | Tue 10 Nov  | sent      |
| d8  | 15d      | commercial  | —       | Tue 10 Nov  | sent      |
| d9  | 30m      | residential | —       | Wed 18 Nov  | acked     |
| d10 | 30m      | residential | —       | Wed 18 Nov  | pending   |
| d11 | restored | residential | —       | Mon 23 Nov  | skipped   |
| d12 | 15d      | residential | —       | Thu 1 Oct   | sent      |
| d13 | alert    | key_account | K1      | Wed 18 Nov  | sent (to staff: not a notice) |
| d14 | reply    | residential | —       | Wed 18 Nov  | sent (a staff reply: not a notice) |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.models import (
    Conversation,
    Escalation,
    Identity,
    IdentityAccount,
    Message,
    NoticeDelivery,
    Outage,
    OutageArea,
    Survey,
)
from core.models.enums import (
    AlertKind,
    ChatChannel,
    DeliveryChannel,
    DeliveryStatus,
    Direction,
    EscalationReason,
    EscalationState,
    MessagePurpose,
    OutageKind,
    OutageStatus,
    Segment,
    Stage,
    SubjectKind,
    SurveyTrigger,
    Tier,
)
from tests.core.feedback.feedback_world import K1, K2, NOW, SHANGHAI, FeedbackWorld, _staff_and_accounts, local

__all__ = ["K1", "K2", "NOW", "SHANGHAI", "KpiWorld", "load_kpi_world", "local"]

BUTTON, KEYWORDS = "button", "keywords"  # a button press; a message the keyword rules read (the NLU was down)


@dataclass(frozen=True)
class C:
    name: str
    started: datetime
    account: str | None
    said: tuple[tuple[str, float | str], ...]  # (intent, the NLU's confidence or BUTTON / KEYWORDS)
    escalated_after: timedelta | None = None
    answered_after: timedelta | None = None


CONVERSATIONS = (
    C("c0", datetime(2025, 11, 24, tzinfo=SHANGHAI).astimezone(UTC), None, (("greet", 0.9),)),
    C("c1", local(11, 10, 10), None, (("bill_amount", 0.9), ("nlu_fallback", 0.3))),
    C(
        "c2",
        local(11, 11, 10),
        K1,
        (("nlu_fallback", 0.2), ("human_handoff", BUTTON)),
        timedelta(minutes=1),
        timedelta(seconds=120),
    ),
    C(
        "c3",
        local(11, 16, 0),
        None,
        (("greet", 0.95), ("bill_amount", BUTTON)),
        timedelta(minutes=2),
        timedelta(seconds=600),
    ),
    C("c4", local(11, 19, 12), K2, (("outage_status", 0.8),), timedelta(0), timedelta(seconds=300)),
    C("c5", local(11, 23, 8), None, (("nlu_fallback", KEYWORDS), ("report_fault", 0.7)), timedelta(minutes=5)),
    C("c6", local(11, 23, 17, 28), None, (("human_handoff", 0.9),), timedelta(0)),
    C("c7", local(11, 23, 0, 30), None, (("greet", 0.99),)),
    C("c8", local(11, 17, 9), None, ()),
    C("c9", local(10, 1, 10), None, (("nlu_fallback", 0.1),), timedelta(minutes=1), timedelta(seconds=60)),
)

RES, KEY, COM = Segment.RESIDENTIAL, Segment.KEY_ACCOUNT, Segment.COMMERCIAL
SENT, FAILED, ACKED = DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.ACKED
DELIVERIES = (
    ("d1", Stage.FIRST, KEY, K1, local(11, 10, 9), SENT),
    ("d2", Stage.FIRST, KEY, K2, local(11, 10, 9), FAILED),
    ("d3", Stage.FINAL, KEY, K1, local(11, 18, 9), ACKED),
    ("d4", Stage.FINAL, KEY, K2, local(11, 18, 9), SENT),
    ("d5", Stage.FINAL, KEY, K2, local(11, 23, 9), FAILED),
    ("d6", Stage.FINAL, KEY, K1, local(11, 23, 9), DeliveryStatus.CANCELLED),
    ("d7", Stage.FIRST, RES, None, local(11, 10, 9), SENT),
    ("d8", Stage.FIRST, COM, None, local(11, 10, 9), SENT),
    ("d9", Stage.FINAL, RES, None, local(11, 18, 9), ACKED),
    ("d10", Stage.FINAL, RES, None, local(11, 18, 9), DeliveryStatus.PENDING),
    ("d11", Stage.RESTORED, RES, None, local(11, 23, 9), DeliveryStatus.SKIPPED),
    ("d12", Stage.FIRST, RES, None, local(10, 1, 9), SENT),
    ("d13", AlertKind.UNCONFIRMED, KEY, K1, local(11, 18, 9), SENT),
    ("d14", MessagePurpose.REPLY, RES, None, local(11, 18, 9), SENT),
)
SURVEYS = (  # name, conversation, account, sent, score
    ("s1", "c1", None, local(11, 10, 11), 5),
    ("s2", "c2", K1, local(11, 16, 10), 2),
    ("s3", "c4", K2, local(11, 23, 9), 4),
    ("s4", "c3", None, local(11, 17, 10), None),
    ("s5", "c7", None, local(11, 23, 1), 3),
)


@dataclass
class KpiWorld:
    staff: dict[str, int]
    accounts: dict[str, int]
    conversations: dict[str, int]
    identities: dict[str, int]


async def load_kpi_world(sessionmaker: async_sessionmaker[AsyncSession]) -> KpiWorld:
    base = FeedbackWorld()
    async with session_scope(sessionmaker) as session:
        await _staff_and_accounts(session, base)
    world = KpiWorld(base.staff, base.accounts, {}, {})
    async with session_scope(sessionmaker) as session:
        for spec in CONVERSATIONS:
            await _conversation(session, world, spec)
        session.add(_escalation(None, world.accounts[K1], local(11, 18, 10), timedelta(seconds=60)))
        reply = _message(world.conversations["c1"], "nlu_fallback", BUTTON, local(11, 10, 10, 5))
        reply.direction, reply.payload = Direction.OUT, None
        session.add(reply)
        for _name, conversation, account, sent, score in SURVEYS:
            session.add(_survey(world, conversation, account, sent, score))
        await _deliveries(session, world)
    return world


async def _conversation(session: AsyncSession, world: KpiWorld, spec: C) -> None:
    identity = Identity(channel=ChatChannel.WEB, external_id=f"kpi-{spec.name}", language="zh", created_at=spec.started)
    session.add(identity)
    await session.flush()
    if spec.account:
        session.add(
            IdentityAccount(identity_id=identity.id, account_id=world.accounts[spec.account], verified_at=spec.started)
        )
    conversation = Conversation(identity_id=identity.id, channel=ChatChannel.WEB, created_at=spec.started)
    session.add(conversation)
    await session.flush()
    world.conversations[spec.name], world.identities[spec.name] = conversation.id, identity.id
    for minute, (intent, confidence) in enumerate(spec.said):
        session.add(_message(conversation.id, intent, confidence, spec.started + timedelta(seconds=30 + 60 * minute)))
    if spec.escalated_after is not None:
        account = world.accounts[spec.account] if spec.account else None
        escalation = _escalation(conversation.id, account, spec.started + spec.escalated_after, spec.answered_after)
        escalation.identity_id = identity.id
        session.add(escalation)


def _message(conversation_id: int, intent: str, confidence: float | str, at: datetime) -> Message:
    """A customer's message: parsed by the NLU (with its confidence), a button press, or read by keywords."""
    return Message(
        conversation_id=conversation_id,
        channel=ChatChannel.WEB,
        direction=Direction.IN,
        text="…",
        payload=f"intent:{intent}" if confidence == BUTTON else None,
        intent=intent,
        confidence=confidence if isinstance(confidence, float) else None,
        created_at=at,
    )


def _escalation(
    conversation_id: int | None, account_id: int | None, at: datetime, answered_after: timedelta | None
) -> Escalation:
    return Escalation(
        conversation_id=conversation_id,
        account_id=account_id,
        reason=EscalationReason.HUMAN_HANDOFF if conversation_id else EscalationReason.NOTICE_PROBLEM,
        state=EscalationState.ASSIGNED if answered_after is not None else EscalationState.PENDING,
        first_response_at=at + answered_after if answered_after is not None else None,
        created_at=at,
    )


def _survey(world: KpiWorld, conversation: str, account: str | None, sent: datetime, score: int | None) -> Survey:
    conversation_id = world.conversations[conversation]
    return Survey(
        conversation_id=conversation_id,
        identity_id=world.identities[conversation],
        account_id=world.accounts[account] if account else None,
        channel=ChatChannel.WEB,
        language="zh",
        segment="key_account" if account else "residential",
        trigger=SurveyTrigger.RESOLVED,
        sent_at=sent,
        expires_at=sent + timedelta(hours=24),
        answered_at=sent + timedelta(minutes=3) if score is not None else None,
        score=score,
        created_at=sent,
    )


async def _deliveries(session: AsyncSession, world: KpiWorld) -> None:
    outage = Outage(
        kind=OutageKind.PLANNED,
        status=OutageStatus.COMPLETED,
        starts_at=local(11, 23, 9, 30),
        ends_at=local(11, 23, 15),
        reason="10kV线路检修",
        contact="95598",
        published_at=local(11, 8, 9),
        created_at=local(11, 8, 9),
        areas=[OutageArea(area_code="FB")],
    )
    session.add(outage)
    await session.flush()
    for name, stage, segment, account, due, status in DELIVERIES:
        staff = isinstance(stage, AlertKind)
        reply = stage == MessagePurpose.REPLY
        session.add(
            NoticeDelivery(
                subject_kind=SubjectKind.MESSAGE if reply else SubjectKind.OUTAGE,
                subject_id=outage.id,
                tier=Tier.STAFF if staff else Tier.KEY_ACCOUNT if segment == KEY else Tier.EVERYONE,
                outage_id=None if reply else outage.id,
                contact_key=f"kpi:{name}",
                account_id=world.accounts[account] if account else None,
                segment=segment,
                stage=stage,
                channel=DeliveryChannel.TELEGRAM,
                address="100",
                due_at=due,
                status=status,
                sent_at=due if status in (SENT, ACKED) else None,
                acked_at=due + timedelta(minutes=2) if status == ACKED else None,
                created_at=due - timedelta(days=1),
            )
        )
