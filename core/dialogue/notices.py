"""The seam for outage-notice confirmations (the 30-minute notice's buttons and the outage_ack intent).

The dialogue engine routes every button payload that starts with "notice:" and every outage_ack message to
a NoticeResponder (core.notices.confirmations.NoticeConfirmationResponder). When it answers None
(nothing of its own to say), the engine tells the customer politely that nothing is waiting for a
confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Identity
from core.ports import OutgoingMessage

NOTICE_PAYLOAD_PREFIX = "notice:"


class NoticeResponder(Protocol):
    async def on_payload(
        self, session: AsyncSession, identity: Identity, payload: str, language: str
    ) -> list[OutgoingMessage] | None:
        """A button of a notice was pressed (payload starts with "notice:"). None: nothing to say."""
        ...

    async def on_told(self, session: AsyncSession, identity: Identity, outage_ids: Sequence[int]) -> None:
        """The customer heard of these outages going on now in the chat: a fault's "we know" notice still
        waiting for them is not sent (they are told once)."""
        ...

    async def on_ack_text(
        self, session: AsyncSession, identity: Identity, text: str, language: str
    ) -> list[OutgoingMessage] | None:
        """The customer wrote a confirmation ("已收到，已安排备用电源"). None: nothing to say."""
        ...
