"""Telegram customers in end-to-end tests: the environment of a `gridtalk api` process whose bot talks to a fake
Bot API server on loopback and takes updates through its webhook, and the updates a customer's client sends
(a message or a button press)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from nlu.project import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.support.notices import TOKEN

WEBHOOK_SECRET = "e2e-webhook-secret"
WEBHOOK_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


def telegram_env(database_url: str, bot_api: FakeTelegramApi, rasa_url: str, **settings: str) -> dict[str, str]:
    """The environment of the api and worker processes: the test database, the real Rasa server, the fake Bot
    API, a webhook secret, a fast notice rate and no quiet hours; `settings` add or override GRIDTALK_ ones."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTALK_")}
    values.update(
        GRIDTALK_ENV="test",
        GRIDTALK_DATABASE_URL=database_url,
        GRIDTALK_API_PORT=str(free_port()),
        GRIDTALK_RASA_URL=rasa_url,
        GRIDTALK_TELEGRAM_TOKEN=TOKEN,
        GRIDTALK_TELEGRAM_API_BASE=bot_api.base_url,
        GRIDTALK_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        GRIDTALK_NOTICE_RATE_LIMIT="100",
        GRIDTALK_NOTICE_ALLOW_PAID_BROADCAST="true",
        GRIDTALK_NOTICE_QUIET_START="00:00",  # no quiet hours
        GRIDTALK_NOTICE_QUIET_END="00:00",
        PYTHONUNBUFFERED="1",
    )
    values.update({f"GRIDTALK_{name.upper()}": value for name, value in settings.items()})
    return values


def update(update_id: int, chat: int, **body: Any) -> dict[str, Any]:
    """A Telegram update from a private chat: a message (`text=…`, `photo=…`) or, with `data=…`, a press of an
    inline button under a message of the bot."""
    person = {"id": chat, "is_bot": False, "first_name": "客户", "language_code": "zh"}
    date = int(datetime.now(UTC).timestamp())
    if "data" in body:
        message = {"message_id": 5, "date": date, "chat": {"id": chat, "type": "private"}, "text": "通知"}
        callback = {"id": f"cb{update_id}", "from": person, "chat_instance": "ci", "message": message, **body}
        return {"update_id": update_id, "callback_query": callback}
    message = {"message_id": update_id, "date": date, "chat": {"id": chat, "type": "private"}, "from": person}
    return {"update_id": update_id, "message": {**message, **body}}
