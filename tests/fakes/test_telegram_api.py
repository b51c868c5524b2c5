"""The fake Bot API itself answers aiogram as Telegram would (so the tests that lean on it mean something)."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.fakes.telegram_api import FakeTelegramApi

TOKEN = "123456:TEST-token"


async def test_send_message_with_buttons_is_recorded() -> None:
    async with FakeTelegramApi() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="确认收到", callback_data="x")]])
        message = await bot.send_message(777, "停电通知", reply_markup=markup)
        await bot.session.close()
    assert message.chat.id == 777
    [call] = api.sent()
    assert (call.chat_id, call.text) == (777, "停电通知")
    assert call.buttons == [{"text": "确认收到", "callback_data": "x"}]


async def test_scripted_429_and_403() -> None:
    async with FakeTelegramApi() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        api.fail_next("sendMessage", 429, retry_after=3)
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(1, "x")
        assert retry.value.retry_after == 3
        api.block_chat(2)
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(2, "x")
        await bot.send_message(1, "ok")
        await bot.session.close()
    assert [c.text for c in api.sent()] == ["ok"]
