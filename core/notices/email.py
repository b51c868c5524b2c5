"""Notices by email through an SMTP server (aiosmtplib): the text as plain text and as HTML, and the notice's
attachments (a bill statement's CSV) as files."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from core.config import Settings
from core.notices.channels import PermanentFailure, TemporaryFailure
from core.notices.render import RenderedNotice


class EmailChannel:
    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        if not settings.smtp_host:
            raise ValueError("GRIDTALK_SMTP_HOST is not set")
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.notice_send_timeout,
        )

    def message(self, address: str, notice: RenderedNotice) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = notice.subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "gridtalk")
        message.set_content(notice.plain)
        body = notice.html.replace("\n", "<br>\n")
        message.add_alternative(
            f'<!doctype html><html><body><div style="font-family:sans-serif;line-height:1.5">{body}</div>'
            f'<p style="color:#888;font-size:small">{html.escape(self.sender)}</p></body></html>',
            subtype="html",
        )
        for attachment in notice.attachments:
            maintype, _, subtype = attachment.mime_type.partition("/")
            message.add_attachment(attachment.content, maintype, subtype, filename=attachment.filename)
        return message

    async def deliver(self, address: str, notice: RenderedNotice) -> None:
        try:
            message = self.message(address, notice)
        except ValueError as exc:  # a header the email library refuses (e.g. a malformed address)
            raise PermanentFailure(f"email: {exc}") from exc
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = PermanentFailure if codes and all(code >= 500 for code in codes) else TemporaryFailure
            raise error(f"email: recipient refused {codes}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = PermanentFailure if 500 <= exc.code < 600 and exc.code != 554 else TemporaryFailure
            raise error(f"email: SMTP {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"email: {type(exc).__name__}: {exc}") from exc

    async def send_text(self, address: str, subject: str, text: str) -> None:
        """One email of plain text (a verification code) on the same SMTP server as the notices
        (core.ports.EmailSender); raises PermanentFailure / TemporaryFailure like `deliver`."""
        await self.deliver(address, RenderedNotice(html.escape(text, quote=False), subject))

    async def aclose(self) -> None:
        """Nothing held open: each notice is its own SMTP session (key-account contacts and managers are few)."""
