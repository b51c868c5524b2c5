"""The mail catcher of `gridtalk run`: an SMTP server on 127.0.0.1 (aiosmtpd) that delivers nothing and keeps
the last messages it accepted, so that a machine without a mail server still shows what gridtalk emails
(notices, the web chat's verification codes) — on the console's mail page (/console/mail).

The messages are .eml files in one folder (`MailFolder`), which is how the catcher (its own process,
`gridtalk mailcatcher`) hands them to the api process: each is written under a temporary name and renamed
into place, so a reader never sees half a message; a name starts with the receive time in nanoseconds, so
the names sort in arrival order; past `keep` messages the oldest are deleted.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

from core.clock import Clock

KEEP = 200  # messages kept; the oldest go first
SUFFIX = ".eml"


@dataclass(frozen=True, slots=True)
class CaughtMail:
    name: str  # the file's name (its id)
    received_at: datetime
    sender: str
    to: str
    subject: str
    text: str  # the plain-text part (what a customer reads)
    attachments: tuple[str, ...] = ()  # the names of the files attached (a bill statement's CSV)


class MailFolder:
    """The catcher's messages, newest last, at most `keep` of them; safe to read from another process."""

    def __init__(self, path: Path, keep: int = KEEP) -> None:
        self.path = path
        self.keep = keep

    def store(self, content: bytes, received_at: datetime) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = int(received_at.timestamp() * 1_000_000) * 1000
        name = f"{stamp:020d}-{secrets.token_hex(4)}"
        temporary = self.path / f".{name}.tmp"
        temporary.write_bytes(content)
        final = self.path / f"{name}{SUFFIX}"
        os.replace(temporary, final)
        self.prune()
        return final

    def names(self) -> list[str]:
        """The messages' file names, oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith("."))

    def prune(self) -> None:
        for name in self.names()[: -self.keep]:
            (self.path / name).unlink(missing_ok=True)

    def latest(self, limit: int = 50) -> list[CaughtMail]:
        """The newest `limit` messages, newest first (one deleted meanwhile by the catcher is left out)."""
        found: list[CaughtMail] = []
        for name in reversed(self.names()):
            if len(found) >= limit:
                break
            try:
                content = (self.path / name).read_bytes()
            except FileNotFoundError:
                continue
            found.append(read_mail(name, content))
        return found


def read_mail(name: str, content: bytes) -> CaughtMail:
    message = email.message_from_bytes(content, policy=email.policy.default)
    stamp = name.partition("-")[0]
    received_at = datetime.fromtimestamp(int(stamp) / 1e9, UTC) if stamp.isdigit() else datetime.now(UTC)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return CaughtMail(
        name=name,
        received_at=received_at,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "") or message.get("X-Envelope-To", "")),
        subject=str(message.get("Subject", "")),
        text=str(text).strip(),
        attachments=tuple(str(part.get_filename() or "") for part in message.iter_attachments()),
    )


class CatcherHandler:
    """aiosmtpd's handler: every message accepted is stored in the folder (and delivered nowhere)."""

    def __init__(self, folder: MailFolder, clock: Clock) -> None:
        self.folder = folder
        self.clock = clock

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        recipients = ", ".join(envelope.rcpt_tos)
        stored = f"X-Envelope-To: {recipients}\r\n".encode() + content
        await asyncio.to_thread(self.folder.store, stored, self.clock.now())
        return "250 Message accepted"


async def start_catcher(folder: MailFolder, clock: Clock, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """The catcher listening on host:port in the running event loop (close the server to stop it)."""
    handler = CatcherHandler(folder, clock)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(handler, hostname="gridtalk-mailcatcher"), host=host, port=port)


async def serve_catcher(folder: MailFolder, clock: Clock, port: int, host: str = "127.0.0.1") -> None:
    """`gridtalk mailcatcher`: serve until cancelled."""
    server = await start_catcher(folder, clock, port, host)
    async with server:
        await server.serve_forever()
