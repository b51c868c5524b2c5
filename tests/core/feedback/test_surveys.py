"""Satisfaction surveys (core.feedback.surveys): SurveyService on a real database — one
survey per conversation and a few a day per customer, expiry, a score counted once, a low score's follow-up
and its owner (a key account's manager, the agent who handled it, nobody), the key account's aspect, the
comment, and the worker's "quiet" trigger."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FrozenClock
from core.config import Settings
from core.customers.service import IdentityService
from core.db import session_scope
from core.feedback.surveys import Outcome, SurveyService
from core.models import (
    Conversation,
    Escalation,
    Feedback,
    FollowUp,
    Identity,
    IdentityAccount,
    KeyAccountProfile,
    Message,
    StaffUser,
    Survey,
    UtilityAccount,
)
from core.models.enums import (
    ChatChannel,
    Direction,
    EscalationReason,
    EscalationState,
    FeedbackAspect,
    FollowUpState,
    Sentiment,
    SurveyTrigger,
)
from tests.support.dialogue import load_demo_data
from tests.support.services import core_services

Maker = async_sessionmaker[AsyncSession]

# --------------------------------------------------------------------------------------------- the service


@dataclass
class World:
    sessionmaker: Maker
    clock: FrozenClock
    settings: Settings

    def service(self, **settings: object) -> SurveyService:
        return core_services(self.clock, self.settings.model_copy(update=settings)).surveys


@pytest.fixture
async def world(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> World:
    await load_demo_data(sessionmaker, clock)
    return World(sessionmaker, clock, settings)


async def customer(
    session: AsyncSession, clock: FrozenClock, account_id: int | None = None, language: str = "zh"
) -> tuple[Identity, Conversation]:
    """A new web chat customer (bound to the account, when given) and its conversation."""
    identity = await IdentityService(clock).start_web_session(session, language)
    conversation = await session.scalar(select(Conversation).where(Conversation.identity_id == identity.id))
    assert conversation is not None
    if account_id is not None:
        session.add(IdentityAccount(identity_id=identity.id, account_id=account_id, verified_at=clock.now()))
        await session.flush()
    return identity, conversation


async def another_conversation(session: AsyncSession, identity: Identity, clock: FrozenClock) -> Conversation:
    conversation = Conversation(identity_id=identity.id, channel=identity.channel, created_at=clock.now())
    session.add(conversation)
    await session.flush()
    return conversation


async def residential(session: AsyncSession) -> UtilityAccount:
    account = await session.scalar(
        select(UtilityAccount)
        .where(UtilityAccount.id.not_in(select(KeyAccountProfile.account_id)))
        .order_by(UtilityAccount.id)
        .limit(1)
    )
    assert account is not None
    return account


async def key_account(session: AsyncSession) -> tuple[UtilityAccount, int]:
    account, manager = (
        await session.execute(
            select(UtilityAccount, KeyAccountProfile.account_manager_id)
            .join(KeyAccountProfile, KeyAccountProfile.account_id == UtilityAccount.id)
            .order_by(UtilityAccount.id)
            .limit(1)
        )
    ).one()
    return account, manager


async def staff(session: AsyncSession, username: str) -> StaffUser:
    person = await session.scalar(select(StaffUser).where(StaffUser.username == username))
    assert person is not None
    return person


async def test_an_offer_is_the_question_with_five_stars_once_per_conversation(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        account = await residential(session)
        identity, conversation = await customer(session, world.clock, account.id)
        offered = await service.offer(session, conversation, identity, SurveyTrigger.THANKED, intent="bill_amount")
        assert offered is not None
        survey = offered.survey
        assert "打个分" in offered.message.text
        assert [b.payload for b in offered.message.buttons] == [f"survey:{survey.id}:{n}" for n in (5, 4, 3, 2, 1)]
        assert offered.message.buttons[0].title == "★★★★★ 非常满意"
        assert (survey.channel, survey.language, survey.account_id, survey.segment) == (
            ChatChannel.WEB,
            "zh",
            account.id,
            "residential",
        )
        assert (survey.trigger, survey.intent, survey.agent_id) == (SurveyTrigger.THANKED, "bill_amount", None)
        assert (survey.sent_at, survey.expires_at) == (world.clock.now(), world.clock.now() + timedelta(hours=24))
        assert await service.offer(session, conversation, identity, SurveyTrigger.QUIET, intent=None) is None

        english, other = await customer(session, world.clock, language="en")
        offered = await service.offer(session, other, english, SurveyTrigger.QUIET, intent="faq_ev_charger")
        assert offered is not None and offered.survey.account_id is None and offered.survey.segment is None
        assert "How satisfied" in offered.message.text
        assert offered.message.buttons[-1].title == "★ Very dissatisfied"


async def test_the_daily_limit_counts_the_bound_account_else_the_chat(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        account = await residential(session)
        first, conversation = await customer(session, world.clock, account.id)
        assert await service.offer(session, conversation, first, SurveyTrigger.RESOLVED, intent=None) is not None
        later = await another_conversation(session, first, world.clock)
        assert await service.offer(session, later, first, SurveyTrigger.QUIET, intent=None) is None
        # another chat bound to the same account is the same customer
        second, elsewhere = await customer(session, world.clock, account.id)
        assert await service.offer(session, elsewhere, second, SurveyTrigger.QUIET, intent=None) is None
        # an anonymous chat is a customer of its own
        anonymous, its_own = await customer(session, world.clock)
        assert await service.offer(session, its_own, anonymous, SurveyTrigger.QUIET, intent=None) is not None
        again = await another_conversation(session, anonymous, world.clock)
        assert await service.offer(session, again, anonymous, SurveyTrigger.QUIET, intent=None) is None

        world.clock.advance(timedelta(hours=24))  # a day later
        assert await service.offer(session, later, first, SurveyTrigger.QUIET, intent=None) is not None
        assert await service.offer(session, again, anonymous, SurveyTrigger.QUIET, intent=None) is not None

    two_a_day = world.service(survey_per_day=2)
    async with session_scope(world.sessionmaker) as session:
        anonymous, conversation = await customer(session, world.clock)
        assert await two_a_day.offer(session, conversation, anonymous, SurveyTrigger.QUIET, intent=None)
        second = await another_conversation(session, anonymous, world.clock)
        assert await two_a_day.offer(session, second, anonymous, SurveyTrigger.QUIET, intent=None)
        third = await another_conversation(session, anonymous, world.clock)
        assert await two_a_day.offer(session, third, anonymous, SurveyTrigger.QUIET, intent=None) is None


async def test_no_survey_while_a_person_is_on_the_line_nor_to_a_chat_that_blocked_the_bot(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        identity, conversation = await customer(session, world.clock)
        escalation = Escalation(
            conversation_id=conversation.id,
            identity_id=identity.id,
            reason=EscalationReason.HUMAN_HANDOFF,
            state=EscalationState.PENDING,
            created_at=world.clock.now(),
        )
        session.add(escalation)
        await session.flush()
        assert await service.offer(session, conversation, identity, SurveyTrigger.QUIET, intent=None) is None
        escalation.state = EscalationState.RESOLVED
        identity.blocked_at = world.clock.now()
        assert await service.offer(session, conversation, identity, SurveyTrigger.RESOLVED, intent=None) is None
        identity.blocked_at = None
        assert await service.offer(session, conversation, identity, SurveyTrigger.RESOLVED, intent=None) is not None


async def test_a_score_counts_once_and_only_for_its_customer(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        identity, conversation = await customer(session, world.clock)
        stranger, _ = await customer(session, world.clock)
        offered = await service.offer(session, conversation, identity, SurveyTrigger.THANKED, intent="bill_amount")
        assert offered is not None
        survey_id = offered.survey.id
        assert await service.answer(session, stranger, survey_id, 5) is None  # not theirs
        assert await service.answer(session, identity, survey_id, 6) is None  # no such star
        assert await service.answer(session, identity, survey_id + 1000, 5) is None
        world.clock.advance(timedelta(minutes=1))
        answered = await service.answer(session, identity, survey_id, 4)
        assert answered is not None and answered.outcome is Outcome.RECORDED and not answered.asks_comment
        assert answered.followup is None and "感谢您的评价" in answered.replies[0].text
        again = await service.answer(session, identity, survey_id, 1)
        assert again is not None and again.outcome is Outcome.ALREADY and "已经评过分" in again.replies[0].text
    async with world.sessionmaker() as session:
        survey = await session.get(Survey, survey_id)
        assert survey is not None and (survey.score, survey.answered_at) == (4, world.clock.now())
        [feedback] = list(await session.scalars(select(Feedback).where(Feedback.survey_id == survey_id)))
        assert (feedback.score, feedback.comment, feedback.identity_id) == (4, None, identity.id)
        assert await session.scalar(select(func.count()).select_from(FollowUp)) == 0


async def test_two_presses_at_once_count_once(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        identity, conversation = await customer(session, world.clock)
        offered = await service.offer(session, conversation, identity, SurveyTrigger.THANKED, intent="bill_amount")
        assert offered is not None
    survey_id, identity_id = offered.survey.id, identity.id

    async def press(score: int) -> Outcome:
        async with session_scope(world.sessionmaker) as session:
            who = await session.get(Identity, identity_id)
            assert who is not None
            answered = await service.answer(session, who, survey_id, score)
            assert answered is not None
            return answered.outcome

    outcomes = await asyncio.gather(press(5), press(1))
    assert sorted(outcomes) == [Outcome.ALREADY, Outcome.RECORDED]
    async with world.sessionmaker() as session:
        survey = await session.get(Survey, survey_id)
        feedback = list(await session.scalars(select(Feedback)))
        followups = await session.scalar(select(func.count()).select_from(FollowUp))
    assert survey is not None and [(f.score, f.survey_id) for f in feedback] == [(survey.score, survey_id)]
    assert followups == (1 if survey.score == 1 else 0)


async def test_an_expired_survey_thanks_a_late_press_without_counting_it(world: World) -> None:
    service = world.service(survey_expiry_hours=2)
    async with session_scope(world.sessionmaker) as session:
        identity, conversation = await customer(session, world.clock, language="en")
        offered = await service.offer(session, conversation, identity, SurveyTrigger.QUIET, intent="outage_status")
        assert offered is not None
        world.clock.advance(timedelta(hours=2))
        late = await service.answer(session, identity, offered.survey.id, 1)
        assert late is not None and late.outcome is Outcome.EXPIRED and "has closed" in late.replies[0].text
    async with world.sessionmaker() as session:
        survey = await session.get(Survey, offered.survey.id)
        assert survey is not None and survey.score is None and survey.answered_at is None
        assert await session.scalar(select(func.count()).select_from(Feedback)) == 0
        assert await session.scalar(select(func.count()).select_from(FollowUp)) == 0


async def test_a_low_score_of_a_key_account_goes_to_its_manager_with_the_aspect_question(world: World) -> None:
    service = world.service()
    async with session_scope(world.sessionmaker) as session:
        account, manager_id = await key_account(session)
        agent = await staff(session, "agent.li")
        identity, conversation = await customer(session, world.clock, account.id)
        offered = await service.offer(
            session, conversation, identity, SurveyTrigger.RESOLVED, intent="complaint", agent_id=agent.id
        )
        assert offered is not None and offered.survey.segment == "key_account"
        survey_id = offered.survey.id
        answered = await service.answer(session, identity, survey_id, 2)
        assert answered is not None and answered.asks_comment and answered.followup is not None
        ask, aspects = answered.replies
        assert "哪里做得不好" in ask.text and not ask.buttons
        assert "哪一方面" in aspects.text
        assert [(b.title, b.payload) for b in aspects.buttons] == [
            ("供电可靠性", f"survey:{survey_id}:aspect:supply"),
            ("服务质量", f"survey:{survey_id}:aspect:service"),
            ("投诉处理", f"survey:{survey_id}:aspect:complaint"),
        ]
        said = await service.aspect(session, identity, survey_id, "service")
        assert said is not None and "服务质量" in said.text
        again = await service.aspect(session, identity, survey_id, "supply")
        assert again is not None and "已经评过分" in again.text
        assert await service.aspect(session, identity, survey_id, "weather") is None
        comment = await service.comment(session, identity, survey_id, "停电通知太晚了，客服也很不耐烦")
        assert comment is not None and "意见已经记录" in comment.text
    async with world.sessionmaker() as session:
        survey = await session.get(Survey, survey_id)
        assert survey is not None and (survey.score, survey.aspect) == (2, FeedbackAspect.SERVICE)
        [followup] = list(await session.scalars(select(FollowUp)))
        assert (followup.survey_id, followup.owner_id, followup.state) == (survey_id, manager_id, FollowUpState.OPEN)
        assert followup.due_at == world.clock.now() + timedelta(hours=24)
        [feedback] = list(await session.scalars(select(Feedback)))
        assert (feedback.score, feedback.comment) == (2, "停电通知太晚了，客服也很不耐烦")
        assert feedback.sentiment == Sentiment.NEGATIVE


async def test_a_low_score_goes_to_the_agent_who_handled_it_else_to_the_supervisors_queue(world: World) -> None:
    service = world.service(followup_due_hours=8)
    async with session_scope(world.sessionmaker) as session:
        account = await residential(session)
        agent = await staff(session, "agent.li")
        handled, conversation = await customer(session, world.clock, account.id)
        session.add(
            Escalation(
                conversation_id=conversation.id,
                identity_id=handled.id,
                reason=EscalationReason.HUMAN_HANDOFF,
                state=EscalationState.RESOLVED,
                assigned_to_id=agent.id,
                created_at=world.clock.now(),
            )
        )
        await session.flush()
        # the quiet trigger names no agent: the conversation's escalation says who handled it
        offered = await service.offer(session, conversation, handled, SurveyTrigger.QUIET, intent="bill_amount")
        assert offered is not None and offered.survey.agent_id == agent.id
        answered = await service.answer(session, handled, offered.survey.id, 1)
        assert answered is not None and answered.followup is not None
        assert len(answered.replies) == 1  # not a key account: no aspect question
        assert await service.aspect(session, handled, offered.survey.id, "supply") is None
        assert (answered.followup.owner_id, answered.followup.due_at) == (
            agent.id,
            world.clock.now() + timedelta(hours=8),
        )

        nobody, alone = await customer(session, world.clock)
        offered = await service.offer(session, alone, nobody, SurveyTrigger.THANKED, intent="faq_meter_reading")
        assert offered is not None
        answered = await service.answer(session, nobody, offered.survey.id, 2)
        assert answered is not None and answered.followup is not None and answered.followup.owner_id is None

        # an agent who has left owns nothing new: the supervisors' queue takes it
        agent.is_active = False
        gone, conversation = await customer(session, world.clock)
        offered = await service.offer(
            session, conversation, gone, SurveyTrigger.RESOLVED, intent=None, agent_id=agent.id
        )
        assert offered is not None
        answered = await service.answer(session, gone, offered.survey.id, 2)
        assert answered is not None and answered.followup is not None and answered.followup.owner_id is None
    async with world.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(FollowUp)) == 3


async def test_the_low_score_setting_decides_what_asks_for_a_comment(world: World) -> None:
    service = world.service(survey_low_score=3)
    async with session_scope(world.sessionmaker) as session:
        identity, conversation = await customer(session, world.clock)
        offered = await service.offer(session, conversation, identity, SurveyTrigger.THANKED, intent="usage_query")
        assert offered is not None
        answered = await service.answer(session, identity, offered.survey.id, 3)
        assert answered is not None and answered.asks_comment and answered.followup is not None
        skipped = service.comment_skipped(identity)
        assert "感谢您的评价" in skipped.text


# ------------------------------------------------------------------------------------------ the quiet trigger


async def answered_at(
    session: AsyncSession,
    conversation: Conversation,
    at: datetime,
    intent: str,
    buttons: list[dict[str, str]] | None = None,
) -> None:
    """A question and the bot's answer (with these buttons) in the conversation, at `at`."""
    for direction in (Direction.IN, Direction.OUT):
        session.add(
            Message(
                conversation_id=conversation.id,
                channel=conversation.channel,
                direction=direction,
                text="…",
                intent=intent,
                buttons=(buttons or []) if direction == Direction.OUT else [],
                created_at=at,
            )
        )
    conversation.last_message_at = at
    await session.flush()


async def test_a_customer_quiet_after_an_answer_gets_the_survey_once(world: World) -> None:
    service = world.service(survey_quiet_minutes=10)
    start = world.clock.now()
    async with session_scope(world.sessionmaker) as session:
        quiet, conversation = await customer(session, world.clock)
        await answered_at(session, conversation, start, "bill_amount")
        _, small_talk = await customer(session, world.clock)
        await answered_at(session, small_talk, start, "greet")  # not an answer a survey follows
        _, asked_to_bind = await customer(session, world.clock)
        await answered_at(
            session, asked_to_bind, start, "bill_amount", buttons=[{"title": "取消", "payload": "cancel"}]
        )
        faq, faq_conversation = await customer(session, world.clock, language="en")
        await answered_at(session, faq_conversation, start + timedelta(minutes=1), "faq_ev_charger")
        agent = await staff(session, "agent.li")
        _, staff_conversation = await customer(session, world.clock)
        await answered_at(session, staff_conversation, start, "bill_amount")
        session.add(  # staff wrote last: not the bot's answer
            Message(
                conversation_id=staff_conversation.id,
                channel=ChatChannel.WEB,
                direction=Direction.OUT,
                text="您好",
                buttons=[],
                staff_id=agent.id,
                created_at=start + timedelta(minutes=1),
            )
        )
        ids = {quiet.id: "quiet", faq.id: "faq"}

    world.clock.set(start + timedelta(minutes=9, seconds=59))
    async with session_scope(world.sessionmaker) as session:
        assert await service.offer_quiet(session) == 0  # not quiet long enough
    world.clock.set(start + timedelta(minutes=10))
    async with session_scope(world.sessionmaker) as session:
        assert await service.offer_quiet(session) == 1
    world.clock.set(start + timedelta(minutes=11))
    async with session_scope(world.sessionmaker) as session:
        assert await service.offer_quiet(session, batch=1) == 1  # the FAQ answer's turn (a page of one)
        assert await service.offer_quiet(session) == 0  # once
    async with world.sessionmaker() as session:
        surveys = list(await session.scalars(select(Survey).order_by(Survey.id)))
        assert [(ids[s.identity_id], s.trigger, s.intent) for s in surveys] == [
            ("quiet", SurveyTrigger.QUIET, "bill_amount"),
            ("faq", SurveyTrigger.QUIET, "faq_ev_charger"),
        ]
        question = await session.scalar(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id.desc()).limit(1)
        )
        assert question is not None
        assert "打个分" in question.text and question.direction == Direction.OUT
        assert question.buttons[0]["payload"] == f"survey:{surveys[0].id}:5"


async def test_too_late_for_a_quiet_survey(world: World) -> None:
    service = world.service(survey_quiet_minutes=10)
    start = world.clock.now()
    async with session_scope(world.sessionmaker) as session:
        _, conversation = await customer(session, world.clock)
        await answered_at(session, conversation, start, "outage_status")
    world.clock.set(start + timedelta(minutes=20, seconds=1))  # the worker was away: twice the quiet time passed
    async with session_scope(world.sessionmaker) as session:
        assert await service.offer_quiet(session) == 0
    async with world.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Survey)) == 0
