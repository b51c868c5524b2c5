"""An application (业扩) end to end, with the real processes: `gridtalk api` (staff API, web chat) on the real Rasa
server, `gridtalk worker --once` ticks sending through a fake Bot API server on loopback.

A capacity increase for a demo key account is created and advanced through the staff API → the key account's
contacts get the stage change on Telegram (the new stage, the next step, its due time, their account manager) →
in the web chat, after binding the account, "我的增容申请办到哪一步了" is answered with the stage, the next step,
its deadline and the account manager; a question of how to apply still gets the FAQ."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.applications import WATERWORKS, demo_key_account
from tests.support.notices import SHANGHAI, load_demo_world
from tests.support.processes import worker_tick

pytestmark = [pytest.mark.e2e, pytest.mark.rasa]
Maker = async_sessionmaker[AsyncSession]


def local(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def test_a_capacity_increase_from_the_api_to_the_contacts_telegram_and_the_web_chat(
    env: dict[str, str], api_process: str, bot_api: FakeTelegramApi, sessionmaker: Maker
) -> None:
    await load_demo_world(sessionmaker, datetime.now(UTC))
    key = await demo_key_account(sessionmaker, WATERWORKS)
    assert key.contact_chats

    async with httpx.AsyncClient(base_url=api_process, timeout=60) as http:
        token = await http.post("/api/v1/auth/token", data={"username": key.manager, "password": "gridtalk-demo"})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}

        # --- the account manager records it and moves it on, through the API
        body = {"account_number": key.number, "kind": "capacity_increase", "description": "新增两台取水泵"}
        created = await http.post("/api/v1/applications", json=body, headers=auth)
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
        assert created.json()["stage"] == "accepted" and created.json()["owner"] == key.manager
        moved = await http.post(f"/api/v1/applications/{app_id}/advance", json={"stage": "site_survey"}, headers=auth)
        assert moved.status_code == 200, moved.text
        due = local(moved.json()["due_at"])
        listed = (await http.get("/api/v1/applications", params={"account_number": key.number}, headers=auth)).json()
        assert [(i["id"], i["stage"], i["overdue"]) for i in listed["items"]] == [(app_id, "site_survey", False)]

        # --- the contacts' Telegram gets the stage change
        before = len(bot_api.sent())
        await worker_tick(env)
        told: list[Any] = bot_api.sent()[before:]
        assert {c.chat_id for c in told} == set(key.contact_chats)  # each contact, nobody else
        for chat in key.contact_chats:
            accepted, survey = [c.text for c in told if c.chat_id == chat]  # both changes, in order
            assert "已受理" in accepted
            assert "已进入“现场勘查”阶段" in survey and "下一步：答复供电方案" in survey
            assert f"本阶段办理时限：{due}" in survey and key.manager_name in survey and key.manager_phone in survey

        # --- the web chat, after binding the key account, asks where it stands
        session_id = (await http.post("/api/v1/chat/sessions", json={"language": "zh"})).json()["session_id"]

        async def say(text: str) -> str:
            answer = await http.post(f"/api/v1/chat/sessions/{session_id}/messages", json={"text": text})
            assert answer.status_code == 200, answer.text
            return "\n".join(r["text"] for r in answer.json()["replies"])

        await say(f"绑定户号 {key.number}")
        assert "验证通过" in await say(f"手机尾号{key.last4}")
        reply = await say("我的增容申请办到哪一步了")
        assert "增容申请" in reply and "当前阶段：现场勘查" in reply, reply  # the stage
        assert "下一步：答复供电方案" in reply  # the next step
        assert f"本阶段办理时限：{due}" in reply  # its deadline
        assert f"您的客户经理 {key.manager_name}，电话 {key.manager_phone}" in reply  # who to call
        how = await say("怎么申请增容")
        assert "增容" in how and "当前阶段" not in how  # how to apply: still the FAQ
