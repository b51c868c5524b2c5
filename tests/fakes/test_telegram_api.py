"""The fake Bot API itself answers aiogram as Telegram would (so the tests that lean on it mean something)."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.fakes.telegram_api import PLACEHOLDER_JPEG, FakeTelegramApi

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


async def test_a_file_is_fetched_through_get_file_and_its_download_path() -> None:
    async with FakeTelegramApi() as api:
        api.add_file("photo-1", b"\xff\xd8\xff real bytes")
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        file = await bot.get_file("photo-1")
        assert file.file_path is not None and file.file_size == len(b"\xff\xd8\xff real bytes")
        fetched = await bot.download_file(file.file_path)
        other = await bot.download("never-added")
        await bot.session.close()
    assert fetched is not None and fetched.read() == b"\xff\xd8\xff real bytes"
    assert other is not None and other.read() == PLACEHOLDER_JPEG
    assert [c.method for c in api.calls] == ["getFile", "downloadFile", "getFile", "downloadFile"]
