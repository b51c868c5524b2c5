"""A fault ticket's customer hears of every change of its status, in their channel and language: a row of
their transcript (the web chat receives it), through the outbox for Telegram (core.conversations.outbound).
A closed ticket asks whether the problem is solved; "still not fixed" reopens it (the fault skill)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.conversations.outbound import CustomerMessenger
from core.models import FaultTicket, Identity
from core.models.enums import Language, TicketStatus, values
from core.ports import Button
from core.templating import Renderer


class TicketUpdates:
    """Built once per process (core.services); a session per call; never commits."""

    def __init__(self, messenger: CustomerMessenger, renderer: Renderer, hotline: str) -> None:
        self.messenger = messenger
        self.renderer = renderer
        self.hotline = hotline

    async def __call__(self, session: AsyncSession, ticket: FaultTicket) -> None:
        identity = await session.get(Identity, ticket.identity_id) if ticket.identity_id is not None else None
        if identity is None:
            return  # a ticket staff opened for nobody in the chat
        language = identity.language if identity.language in values(Language) else Language.ZH
        text = self.renderer.render("dialogue/ticket_status", language, ticket=ticket, hotline=self.hotline)
        buttons: tuple[Button, ...] = ()
        if ticket.status == TicketStatus.CLOSED:
            buttons = (
                Button(self._title(language, "ticket_solved"), f"ticket:solved:{ticket.id}"),
                Button(self._title(language, "ticket_reopen"), f"ticket:reopen:{ticket.id}"),
            )
        await self.messenger.send(session, identity, text, buttons=buttons)

    def _title(self, language: str, key: str) -> str:
        return self.renderer.render("dialogue/buttons", language, key=key, arg="")
