"""What the dispatcher needs of a channel: deliver a rendered notice to an address, and say how it failed.

Real channels: Telegram (bot/channel.py, aiogram), email (core/notices/email.py, aiosmtplib), an SMS
gateway webhook (core/notices/sms.py, httpx). Each turns its transport's failures into these errors, which
decide what the dispatcher does next: wait and retry, back off and retry, fall back, or give up.
"""

from __future__ import annotations

from typing import Protocol

from core.notices.render import RenderedNotice


class DeliveryError(Exception):
    """A send did not go through."""


class RetryAfter(DeliveryError):
    """The channel asks us to stop sending for `retry_after` seconds (Telegram's 429)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"retry after {retry_after} s")
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """Worth trying again later: a 5xx, a timeout, a dropped connection, an SMTP 4xx."""


class ChannelDown(TemporaryFailure):
    """The channel cannot send to anybody (a 401: wrong or revoked bot token; the network down): the
    dispatcher pauses the channel instead of spending the recipients' attempts."""


class RecipientBlocked(DeliveryError):
    """The recipient cannot be reached on this channel any more (the user blocked the bot: Telegram 403)."""


class PermanentFailure(DeliveryError):
    """Trying again will not help: a bad address, a message the channel refuses."""


class NoticeChannel(Protocol):
    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        """Send one notice; raise a DeliveryError subclass when it did not go through."""
        ...

    async def aclose(self) -> None: ...
