"""What the end-to-end tests with a Telegram customer share: a fake Bot API server on loopback, the environment
of the gridtalk processes (test database, real Rasa, that Bot API, a webhook secret: tests.support.telegram) and a
`gridtalk api` process on it. A module that needs another set-up defines its own fixtures of the same names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.processes import api_process as start_api
from tests.support.telegram import telegram_env


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as api:
        yield api


@pytest.fixture
def env(database_url: str, bot_api: FakeTelegramApi, rasa_url: str) -> dict[str, str]:
    return telegram_env(database_url, bot_api, rasa_url)


@pytest.fixture
def api_process(env: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]) -> Iterator[str]:
    """`gridtalk api` on `env`, started after the test database is built; its base URL."""
    with start_api(env) as base:
        yield base
