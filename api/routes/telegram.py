"""Telegram webhook mode: Telegram POSTs updates here; the secret-token header proves it is Telegram."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from aiogram.types import Update
from fastapi import APIRouter, Header, HTTPException, Request

from api.deps import SettingsDep
from bot.app import WEBHOOK_PATH, TelegramApp

router = APIRouter(tags=["telegram"])


@router.post(WEBHOOK_PATH, include_in_schema=False)
async def telegram_webhook(
    request: Request,
    settings: SettingsDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, Any]:
    telegram: TelegramApp | None = request.app.state.telegram
    if telegram is None or settings.telegram_webhook_secret is None:
        raise HTTPException(404, "webhook mode is off (GRIDTALK_TELEGRAM_WEBHOOK_SECRET is not set)")
    expected = settings.telegram_webhook_secret.get_secret_value()
    if secret is None or not secrets.compare_digest(secret.encode(), expected.encode()):
        raise HTTPException(403, "wrong secret token")
    try:
        update = Update.model_validate(await request.json(), context={"bot": telegram.bot})
    except ValueError as exc:  # not JSON, or not an Update (pydantic's ValidationError is a ValueError)
        raise HTTPException(400, "not a Telegram update") from exc
    async with request.app.state.webchat.conversations.admission:  # a place among the turns in flight first
        await telegram.dispatcher.feed_update(telegram.bot, update)
    return {"ok": True}
