"""Notices by SMS through a gateway's HTTP webhook (httpx). The URL and the JSON body are settings."""

from __future__ import annotations

import json
from typing import Any

import httpx

from core.config import Settings
from core.notices.channels import PermanentFailure, RetryAfter, TemporaryFailure
from core.notices.render import RenderedNotice


def fill_body(template: Any, values: dict[str, str]) -> Any:
    """The body template (parsed JSON) with "{to}" and "{text}" replaced inside its strings, as data: the
    values never become JSON syntax, whatever they contain."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, list):
        return [fill_body(item, values) for item in template]
    if isinstance(template, dict):
        return {key: fill_body(item, values) for key, item in template.items()}
    return template


class SmsWebhookChannel:
    def __init__(
        self,
        url: str,
        body: str = '{"to": "{to}", "text": "{text}"}',
        *,
        token: str | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.body = json.loads(body)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsWebhookChannel:
        if not settings.sms_webhook_url:
            raise ValueError("GRIDTALK_SMS_WEBHOOK_URL is not set")
        token = settings.sms_webhook_token.get_secret_value() if settings.sms_webhook_token else None
        return cls(
            settings.sms_webhook_url, settings.sms_webhook_body, token=token, timeout=settings.notice_send_timeout
        )

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        body = fill_body(self.body, {"to": address, "text": notice.plain})
        try:
            response = await self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:  # connection refused, timeouts, protocol errors
            raise TemporaryFailure(f"sms: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429:
            retry_after = response.headers.get("retry-after", "")
            raise RetryAfter(float(retry_after) if retry_after.isdigit() else 30.0, "sms: 429")
        if response.status_code >= 500 or response.status_code == 408:
            raise TemporaryFailure(f"sms: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentFailure(f"sms: HTTP {response.status_code} {response.text[:200]}")

    async def aclose(self) -> None:
        await self.client.aclose()
