"""The satisfaction survey in Telegram, through aiogram and a fake Bot API server over real HTTP: the survey
reaches the chat as an inline keyboard (after staff resolved the conversation: through the outbox and the
worker's dispatcher; after a thanks: in the turn's reply), a 5-star press is counted, and a second press
counts nothing."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import TelegramApp, build_telegram
from core.clock import FrozenClock
from core.config import Settings
from core.db import session_scope
from core.dialogue import build_conversations
from core.models import Escalation, Feedback, FollowUp, StaffUser, Survey
from core.models.enums import SurveyTrigger
from core.notices.dispatcher import Dispatcher
from core.staff.permissions import Access
from core.templating import Renderer
from gridtalk.worker import build_channels
from tests.fakes.nlu import FakeNlu
from tests.fakes.telegram_api import Call, FakeTelegramApi
from tests.support.dialogue import load_demo_data
from tests.support.services import core_services

TOKEN = "123456:TEST-token"
Maker = async_sessionmaker[AsyncSession]
_ids = itertools.count(1)
NLU = {"转人工": "human_handoff", "充电桩怎么装": "faq_ev_charger", "谢谢": "thanks"}


@dataclass
class Telegram:
    api: FakeTelegramApi
    app: TelegramApp
    settings: Settings

    async def feed(self, update: Update) -> list[Call]:
        before = len(self.api.calls)
        await self.app.dispatcher.feed_update(self.app.bot, update)
        return self.api.calls[before:]

    async def say(self, user: User, text: str) -> list[Call]:
        chat = Chat(id=user.id, type="private")
        update = Update(
            update_id=next(_ids),
            message=Message(message_id=next(_ids), date=datetime.now(UTC), chat=chat, from_user=user, text=text),
        )
        return [c for c in await self.feed(update) if c.method == "sendMessage"]

    async def press(self, user: User, data: str) -> list[Call]:
        message = Message(message_id=next(_ids), date=datetime.now(UTC), chat=Chat(id=user.id, type="private"))
        query = CallbackQuery(id=str(next(_ids)), from_user=user, chat_instance="ci", data=data, message=message)
        return [
            c for c in await self.feed(Update(update_id=next(_ids), callback_query=query)) if c.method == "sendMessage"
        ]


def customer(user_id: int) -> User:
    return User(id=user_id, is_bot=False, first_name="客户", language_code="zh-hans")


@pytest.fixture
async def telegram(sessionmaker: Maker, clock: FrozenClock, settings: Settings) -> AsyncIterator[Telegram]:
    await load_demo_data(sessionmaker, clock)
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": api.base_url, "chat_rate_limit": 50}
        )
        renderer = Renderer(settings.timezone)
        conversations = build_conversations(settings, clock, FakeNlu(NLU), renderer=renderer)
        app = build_telegram(
            settings, sessionmaker=sessionmaker, conversations=conversations, clock=clock, renderer=renderer
        )
        yield Telegram(api, app, settings)
        await app.aclose()


async def test_a_resolved_conversation_gets_the_survey_and_five_stars_count_once(
    telegram: Telegram, sessionmaker: Maker, clock: FrozenClock
) -> None:
    person = customer(910_001)
    await telegram.say(person, "转人工")
    services = core_services(clock, telegram.settings)
    async with session_scope(sessionmaker) as session:
        [escalation] = list(await session.scalars(select(Escalation)))
        agent = await session.scalar(select(StaffUser).where(StaffUser.username == "agent.li"))
        assert agent is not None
        await services.escalations.claim(session, escalation.id, agent, Access.ALL)
        await services.escalations.resolve(session, escalation.id, agent, Access.ALL)
    dispatcher = Dispatcher(
        sessionmaker, clock, telegram.settings, build_channels(telegram.settings), services.notice_renderer
    )
    try:
        assert await dispatcher.run_once() == 2  # the resolution, then the survey (after the commit)
    finally:
        await dispatcher.aclose()
    resolved, question = [c for c in telegram.api.sent() if c.chat_id == person.id][-2:]
    assert "智能客服继续为您服务" in resolved.text and not resolved.buttons
    async with sessionmaker() as session:
        survey = await session.scalar(select(Survey))
    assert survey is not None and survey.trigger == SurveyTrigger.RESOLVED and survey.channel == "telegram"
    assert "打个分" in question.text
    assert [b["callback_data"] for b in question.buttons] == [f"survey:{survey.id}:{n}" for n in (5, 4, 3, 2, 1)]
    assert question.buttons[0]["text"] == "★★★★★ 非常满意"

    [thanked] = await telegram.press(person, f"survey:{survey.id}:5")
    assert "感谢您的评价" in thanked.text and "★★★★★" in thanked.text
    [again] = await telegram.press(person, f"survey:{survey.id}:5")
    assert "已经评过分" in again.text
    [lower] = await telegram.press(person, f"survey:{survey.id}:1")  # changing one's mind changes nothing
    assert "已经评过分" in lower.text and "★★★★★" in lower.text

    async with sessionmaker() as session:
        answered = await session.get(Survey, survey.id)
        feedback = list(await session.scalars(select(Feedback)))
        followups = await session.scalar(select(func.count()).select_from(FollowUp))
    assert answered is not None and answered.score == 5 and answered.agent_id == agent.id
    assert [(f.survey_id, f.score) for f in feedback] == [(survey.id, 5)]
    assert followups == 0


async def test_a_thanks_after_an_answer_gets_the_survey_in_the_reply(telegram: Telegram, sessionmaker: Maker) -> None:
    person = customer(910_002)
    await telegram.say(person, "充电桩怎么装")
    welcome, question = await telegram.say(person, "谢谢")
    assert "不客气" in welcome.text and "打个分" in question.text
    five = question.buttons[0]["callback_data"]
    assert five.startswith("survey:") and five.endswith(":5")
    assert "感谢您的评价" in (await telegram.press(person, five))[0].text
    assert "已经评过分" in (await telegram.press(person, five))[0].text
    async with sessionmaker() as session:
        [survey] = list(await session.scalars(select(Survey)))
        counted = await session.scalar(select(func.count()).select_from(Feedback))
    assert (survey.trigger, survey.intent, survey.score, counted) == (SurveyTrigger.THANKED, "faq_ev_charger", 5, 1)
