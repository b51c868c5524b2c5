"""Binding codes by SMS: the SMS gateway's webhook (GRIDTALK_SMS_WEBHOOK_URL, the one notices use) as a
core.ports.SmsSender. Built by the composition root only when the gateway is configured."""

from __future__ import annotations

import html

from core.config import Settings
from core.notices.render import RenderedNotice
from core.notices.sms import SmsWebhookChannel


class SmsCodeSender:
    """One plain text to one phone through SmsWebhookChannel (its URL, body template, token and timeout).

    Codes are rare, so each send has its own HTTP client, closed right after: nothing is held open between
    sends and nothing needs closing at shutdown. Raises the channel's DeliveryError subclasses on failure.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.sms_webhook_url:
            raise ValueError("GRIDTALK_SMS_WEBHOOK_URL is not set")
        self.settings = settings

    async def send_text(self, phone: str, text: str) -> None:
        channel = SmsWebhookChannel.from_settings(self.settings)
        try:
            await channel.deliver(phone, RenderedNotice(html.escape(text, quote=False), ""))
        finally:
            await channel.aclose()
