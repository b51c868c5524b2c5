"""Satisfaction surveys end to end, with the real processes: `gridtalk api` on the real Rasa server, a web chat
customer and a Telegram customer (through the webhook and a fake Bot API server on loopback).

The web chat customer asks for a person → an agent claims and resolves the conversation through the staff
API → the survey arrives in the chat (as the /chat page polls it) → two stars and a comment → a follow-up
owned by the agent, due a day later; a second press counts nothing. The Telegram customer has a question
answered and says thanks → the survey comes as an inline keyboard → five stars, pressed twice, count once.
The supervisor's report counts both answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.handoff import Api
from tests.support.notices import load_demo_world
from tests.support.telegram import WEBHOOK_HEADERS, update

pytestmark = [pytest.mark.e2e, pytest.mark.rasa]
Maker = async_sessionmaker[AsyncSession]
COMMENT = "等了很久才有人回复，太慢了"
TELEGRAM_CHAT = 770_001


async def test_surveys_from_the_web_chat_and_telegram_reach_the_report_and_the_follow_ups(
    api_process: str, bot_api: FakeTelegramApi, sessionmaker: Maker
) -> None:
    await load_demo_world(sessionmaker, datetime.now().astimezone())
    async with httpx.AsyncClient(base_url=api_process, timeout=60) as http:
        api = Api(http)

        async def staff(username: str, method: str, path: str, **kwargs: Any) -> Any:
            response = await api.staff(username, method, path, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

        # --- the web chat: a person resolves the conversation, the survey arrives, two stars and a comment
        customer = await api.customer()
        assert "人工" in await customer.say("我要转人工客服")
        [item] = await api.queue(state="pending")
        assert item["session_id"] == customer.session_id
        await staff("agent.li", "POST", f"/{item['id']}/claim")
        await staff("agent.li", "POST", f"/{item['id']}/resolve")
        survey = (await customer.inbox())[-1]
        assert "打个分" in survey["text"]
        stars = {b["payload"].rsplit(":", 1)[1]: b["payload"] for b in survey["buttons"]}
        assert sorted(stars) == ["1", "2", "3", "4", "5"]
        assert "哪里做得不好" in await customer.say(payload=stars["2"])
        pressed_at = datetime.now().astimezone()
        assert "意见已经记录" in await customer.say(COMMENT)
        assert "已经评过分" in await customer.say(payload=stars["5"])  # a second press counts nothing

        [followup] = (await staff("agent.li", "GET", "/api/v1/followups"))["items"]
        assert (followup["owner"], followup["state"], followup["score"], followup["comment"]) == (
            "agent.li",
            "open",
            2,
            COMMENT,
        )
        due = datetime.fromisoformat(followup["due_at"])
        assert abs(due - (pressed_at + timedelta(hours=24))) < timedelta(minutes=2)

        # --- Telegram: an answer, a thanks, the survey as an inline keyboard, five stars pressed twice
        for n, text in enumerate(("充电桩怎么安装", "谢谢"), start=1):
            sent = await http.post(
                "/telegram/webhook", json=update(n, TELEGRAM_CHAT, text=text), headers=WEBHOOK_HEADERS
            )
            assert sent.status_code == 200, sent.text
        keyboards = [c for c in bot_api.sent() if c.chat_id == TELEGRAM_CHAT and c.buttons]
        five = next(b["callback_data"] for b in keyboards[-1].buttons if b["callback_data"].endswith(":5"))
        for n in (3, 4):
            pressed = await http.post(
                "/telegram/webhook", json=update(n, TELEGRAM_CHAT, data=five), headers=WEBHOOK_HEADERS
            )
            assert pressed.status_code == 200, pressed.text
        answers = [c.text for c in bot_api.sent() if c.chat_id == TELEGRAM_CHAT][-2:]
        assert "已经评过分" in answers[-1] and "已经评过分" not in answers[0]

        # --- the supervisor's report: both answers, once each; the comment among the low scores
        report = await staff("supervisor.zhou", "GET", "/api/v1/feedback/report")
        assert (report["responses"], report["csat"], report["average"]) == (2, 0.5, 3.5)
        assert {g["key"]: g["responses"] for g in report["by_channel"]} == {"telegram": 1, "web": 1}
        assert [c["comment"] for c in report["low_comments"]] == [COMMENT]
