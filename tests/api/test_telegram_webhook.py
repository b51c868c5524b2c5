"""Webhook mode: Telegram POSTs updates to the api, which checks the secret token and runs the bot's dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.clock import FrozenClock
from core.config import Settings
from tests.fakes.nlu import FakeNlu
from tests.fakes.telegram_api import FakeTelegramApi

TOKEN = "123456:TEST-token"
SECRET = "s3cret-token_value"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def update(text: str) -> dict[str, object]:
    return {
        "update_id": 1,
        "message": {
            "message_id": 10,
            "date": int(datetime(2026, 11, 23, tzinfo=UTC).timestamp()),
            "chat": {"id": 4242, "type": "private"},
            "from": {"id": 4242, "is_bot": False, "first_name": "A", "language_code": "en"},
            "text": text,
        },
    }


@pytest.fixture
async def webhook(
    settings: Settings, clock: FrozenClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeTelegramApi]]:
    async with FakeTelegramApi() as api:
        settings = settings.model_copy(
            update={
                "telegram_token": SecretStr(TOKEN),
                "telegram_api_base": api.base_url,
                "telegram_webhook_secret": SecretStr(SECRET),
            }
        )
        app = create_app(settings, clock=clock, nlu=FakeNlu({"hello": "greet"}))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
        ):
            yield http, api


async def test_updates_with_the_secret_are_answered(webhook: tuple[httpx.AsyncClient, FakeTelegramApi]) -> None:
    http, api = webhook
    response = await http.post("/telegram/webhook", json=update("hello"), headers={HEADER: SECRET})
    assert response.status_code == 200
    [reply] = api.sent()
    assert reply.chat_id == 4242 and reply.text.startswith("Hello!")
    assert any(b["callback_data"] == "intent:bill_amount" for b in reply.buttons)


async def test_a_body_that_is_not_an_update_is_a_bad_request(
    webhook: tuple[httpx.AsyncClient, FakeTelegramApi],
) -> None:
    http, api = webhook
    response = await http.post("/telegram/webhook", content=b"{not json", headers={HEADER: SECRET})
    assert response.status_code == 400
    response = await http.post("/telegram/webhook", json={"message": "x"}, headers={HEADER: SECRET})
    assert response.status_code == 400
    assert api.sent() == []


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: SECRET + "x"}])
async def test_updates_without_the_secret_are_refused(
    webhook: tuple[httpx.AsyncClient, FakeTelegramApi], headers: dict[str, str]
) -> None:
    http, api = webhook
    response = await http.post("/telegram/webhook", json=update("hello"), headers=headers)
    assert response.status_code == 403
    assert api.sent() == []


async def test_no_webhook_without_a_secret(settings: Settings, clock: FrozenClock, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"telegram_token": SecretStr(TOKEN)})  # long polling: the bot process
    app = create_app(settings, clock=clock, nlu=FakeNlu())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/telegram/webhook", json=update("hello"), headers={HEADER: "anything"})
    assert response.status_code == 404
