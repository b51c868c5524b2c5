"""A small hand-made feedback data set, shared by the report and the feedback API tests: staff of every role,
two key accounts with their managers, surveys sent and answered around the ISO week boundary in Shanghai,
comments (with a survey and from the chat) and follow-ups. The figures the tests expect are worked out by hand
in tests/core/feedback/test_reports.py.

The tests' clock is 2026-11-23 09:30 UTC: Monday 17:30 in Shanghai, ISO week 2026-W48. Surveys (local time):

| survey | sent (local)     | channel  | segment     | agent | intent          | score | comment                  |
|--------|------------------|----------|-------------|-------|-----------------|-------|--------------------------|
| s1     | Mon 16 Nov 10:00 | web      | residential | alice | bill_amount     | 5     | positive                 |
| s2     | Tue 17 Nov 10:00 | telegram | residential | —     | outage_status   | 4     |                          |
| s3     | Wed 18 Nov 10:00 | telegram | key_account | alice | outage_status   | 1     | negative, a phone number |
| s4     | Thu 19 Nov 10:00 | web      | residential | bob   | bill_explain    | —     |                          |
| s5     | Mon 23 Nov 00:30 | web      | residential | bob   | bill_amount     | 2     | negative, an account no. |
| s6     | Mon 23 Nov 09:00 | telegram | key_account | alice | outage_status   | —     |                          |
| s8     | Wed 4 Nov 10:00  | web      | commercial  | alice | payment_methods | 3     |                          |
| s9     | Tue 1 Sep 10:00  | web      | residential | bob   | bill_amount     | 1     | negative (before period) |
| s10    | Wed 2 Sep 10:00  | telegram | key_account | alice | outage_status   | 2     |                          |

s3 is key account K1 (manager wang), s6 and s10 K2 (manager zhao). s5 was sent on Monday 00:30 in Shanghai,
still Sunday in UTC: it belongs to W48. Chat comments: positive (20 Nov), neutral (21 Nov, an identity bound
to K1), negative (1 Sep, before the period). Follow-ups: fu1 (s3, wang, due 19 Nov: overdue), fu2 (s5, bob,
due 24 Nov), fu3 (s9, the supervisors' queue, closed), fu4 (s10, zhao, due 3 Sep: overdue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.models import (
    Area,
    Conversation,
    Customer,
    Feedback,
    Feeder,
    FollowUp,
    Identity,
    IdentityAccount,
    KeyAccountProfile,
    StaffUser,
    Survey,
    Tariff,
    UtilityAccount,
)
from core.models.enums import ChatChannel, FollowUpState, Sentiment, SurveyTrigger
from core.security import hash_password
from tests.support.staff import PASSWORD

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
STAFF = {
    "admin.fb": "admin",
    "super.fb": "supervisor",
    "alice": "agent",
    "bob": "agent",
    "wang": "account_manager",
    "zhao": "account_manager",
}
K1, K2, RESIDENT = "3300000001", "3300000002", "3300000003"
PHONE = "13812345678"


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time of 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class FeedbackWorld:
    staff: dict[str, int] = field(default_factory=dict)  # username -> id
    accounts: dict[str, int] = field(default_factory=dict)  # account number -> id
    surveys: dict[str, int] = field(default_factory=dict)
    followups: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class S:
    name: str
    sent: datetime
    channel: ChatChannel
    segment: str | None
    agent: str | None
    intent: str | None
    score: int | None
    comment: tuple[str, Sentiment] | None = None
    account: str | None = None


WEB, TG = ChatChannel.WEB, ChatChannel.TELEGRAM
POS, NEU, NEG = Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE
SURVEYS = (
    S("s1", local(11, 16, 10), WEB, "residential", "alice", "bill_amount", 5, ("服务很满意", POS), RESIDENT),
    S("s2", local(11, 17, 10), TG, "residential", None, "outage_status", 4),
    S("s3", local(11, 18, 10), TG, "key_account", "alice", "outage_status", 1, (f"停电太久，打{PHONE}没人接", NEG), K1),
    S("s4", local(11, 19, 10), WEB, "residential", "bob", "bill_explain", None),
    S("s5", local(11, 23, 0, 30), WEB, "residential", "bob", "bill_amount", 2, (f"户号{RESIDENT}账单不对", NEG)),
    S("s6", local(11, 23, 9), TG, "key_account", "alice", "outage_status", None, None, K2),
    S("s8", local(11, 4, 10), WEB, "commercial", "alice", "payment_methods", 3),
    S("s9", local(9, 1, 10), WEB, "residential", "bob", "bill_amount", 1, ("太慢了", NEG)),
    S("s10", local(9, 2, 10), TG, "key_account", "alice", "outage_status", 2, None, K2),
)


async def load_feedback_world(sessionmaker: async_sessionmaker[AsyncSession]) -> FeedbackWorld:
    world = FeedbackWorld()
    async with session_scope(sessionmaker) as session:
        await _staff_and_accounts(session, world)
        for number, spec in enumerate(SURVEYS):
            await _survey(session, world, spec, number)
        await _chat_comments(session, world)
        await _followups(session, world)
    return world


async def _staff_and_accounts(session: AsyncSession, world: FeedbackWorld) -> None:
    hashed = hash_password(PASSWORD)
    users = [StaffUser(username=u, password_hash=hashed, role=r, created_at=NOW) for u, r in STAFF.items()]
    session.add_all([Area(code="FB", name="反馈区"), Feeder(code="FB-F1", area_code="FB", name="一线"), *users])
    tariff = Tariff(
        code="FB",
        name="FB",
        tier1_limit_kwh=Decimal(200),
        tier2_limit_kwh=Decimal(400),
        tier2_surcharge=Decimal("0.05"),
        tier3_surcharge=Decimal("0.3"),
        peak_price=Decimal("0.6"),
        valley_price=Decimal("0.3"),
        peak_starts=time(8),
        valley_starts=time(22),
    )
    plant, home = (
        Customer(name="Plant", segment="key_account", created_at=NOW),
        Customer(name="Home", segment="residential", created_at=NOW),
    )
    session.add_all([tariff, plant, home])
    await session.flush()
    world.staff = {u.username: u.id for u in users}
    for number in (K1, K2, RESIDENT):
        account = UtilityAccount(
            account_number=number,
            customer_id=home.id if number == RESIDENT else plant.id,
            address="1 Grid Road",
            area_code="FB",
            feeder_code="FB-F1",
            phone=PHONE,
            tariff_id=tariff.id,
            created_at=NOW,
        )
        session.add(account)
        await session.flush()
        world.accounts[number] = account.id
    session.add_all(
        [
            KeyAccountProfile(account_id=world.accounts[K1], account_manager_id=world.staff["wang"]),
            KeyAccountProfile(account_id=world.accounts[K2], account_manager_id=world.staff["zhao"]),
        ]
    )


async def _conversation(session: AsyncSession, channel: ChatChannel, key: str, at: datetime) -> Conversation:
    identity = Identity(channel=channel, external_id=f"fb-{key}", language="zh", created_at=at)
    session.add(identity)
    await session.flush()
    conversation = Conversation(identity_id=identity.id, channel=channel, created_at=at)
    session.add(conversation)
    await session.flush()
    return conversation


async def _survey(session: AsyncSession, world: FeedbackWorld, spec: S, number: int) -> None:
    conversation = await _conversation(session, spec.channel, spec.name, spec.sent - timedelta(minutes=20))
    answered = spec.sent + timedelta(minutes=5 + number) if spec.score is not None else None
    survey = Survey(
        conversation_id=conversation.id,
        identity_id=conversation.identity_id,
        account_id=world.accounts[spec.account] if spec.account else None,
        channel=spec.channel,
        language="zh",
        segment=spec.segment,
        agent_id=world.staff[spec.agent] if spec.agent else None,
        intent=spec.intent,
        trigger=SurveyTrigger.RESOLVED,
        sent_at=spec.sent,
        expires_at=spec.sent + timedelta(hours=24),
        answered_at=answered,
        score=spec.score,
        created_at=spec.sent,
    )
    session.add(survey)
    await session.flush()
    world.surveys[spec.name] = survey.id
    if spec.score is not None:
        text, sentiment = spec.comment if spec.comment else (None, None)
        session.add(
            Feedback(
                conversation_id=conversation.id,
                identity_id=conversation.identity_id,
                score=spec.score,
                comment=text,
                sentiment=sentiment,
                survey_id=survey.id,
                created_at=answered or spec.sent,
            )
        )


async def _chat_comments(session: AsyncSession, world: FeedbackWorld) -> None:
    for key, text, sentiment, at, account in (
        ("c1", "服务不错，谢谢", POS, local(11, 20, 15), None),
        ("c2", "请问几点来电", NEU, local(11, 21, 15), K1),
        ("c3", "又停电，太差了", NEG, local(9, 1, 15), None),
    ):
        conversation = await _conversation(session, WEB, key, at)
        if account:
            session.add(
                IdentityAccount(
                    identity_id=conversation.identity_id, account_id=world.accounts[account], verified_at=at
                )
            )
        session.add(
            Feedback(
                conversation_id=conversation.id,
                identity_id=conversation.identity_id,
                score=None,
                comment=text,
                sentiment=sentiment,
                created_at=at,
            )
        )


async def _followups(session: AsyncSession, world: FeedbackWorld) -> None:
    open_, closed = FollowUpState.OPEN, FollowUpState.CLOSED
    rows = {
        "fu1": FollowUp(survey_id=world.surveys["s3"], owner_id=world.staff["wang"], due_at=local(11, 19, 10)),
        "fu2": FollowUp(survey_id=world.surveys["s5"], owner_id=world.staff["bob"], due_at=local(11, 24, 0, 30)),
        "fu3": FollowUp(
            survey_id=world.surveys["s9"],
            owner_id=None,
            due_at=local(9, 2, 10),
            state=closed,
            note="回访：已解释",
            closed_at=local(9, 2, 9),
            closed_by_id=world.staff["super.fb"],
        ),
        "fu4": FollowUp(survey_id=world.surveys["s10"], owner_id=world.staff["zhao"], due_at=local(9, 3, 10)),
    }
    for name, followup in rows.items():
        followup.created_at = followup.due_at - timedelta(hours=24)
        if followup.state is None:
            followup.state = open_
        session.add(followup)
        await session.flush()
        world.followups[name] = followup.id
