"""The dialogue's SQL: conversations and their transcript, and the outages a customer asks about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.db.repository import RepositoryBase
from core.models import (
    Area,
    Conversation,
    Feedback,
    Feeder,
    Message,
    Outage,
    OutageAccount,
    OutageArea,
    OutageFeeder,
    UtilityAccount,
)

OPEN = "open"


class ConversationRepository(RepositoryBase[Conversation]):
    model = Conversation

    async def latest(self, identity_id: int) -> Conversation | None:
        return await self.session.scalar(
            select(Conversation)
            .where(Conversation.identity_id == identity_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )


class FeedbackRepository(RepositoryBase[Feedback]):
    model = Feedback


class MessageRepository(RepositoryBase[Message]):
    model = Message

    async def after(self, identity_id: int, after_id: int, limit: int) -> list[Message]:
        """Every message of the identity's conversations with an id above `after_id`, oldest first."""
        rows = await self.session.scalars(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.identity_id == identity_id, Message.id > after_id)
            .order_by(Message.id)
            .limit(limit)
        )
        return list(rows)

    async def recent_buttons(self, conversation_id: int, limit: int = 5) -> list[list[dict[str, str]]]:
        """The buttons of the conversation's latest outgoing messages, newest first."""
        rows = await self.session.scalars(
            select(Message.buttons)
            .where(Message.conversation_id == conversation_id, Message.direction == "out")
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return [list(buttons or []) for buttons in rows]


def _touches(account: UtilityAccount) -> ColumnElement[bool]:
    """An outage touches an account through its area, its feeder or the account itself."""
    return or_(
        Outage.areas.any(OutageArea.area_code == account.area_code),
        Outage.feeders.any(OutageFeeder.feeder_code == account.feeder_code),
        Outage.accounts.any(OutageAccount.account_id == account.id),
    )


class OutageLookup:
    """Read-only: published outages going on now or coming, for one account or for everybody."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self, now: datetime, account: UtilityAccount | None = None) -> list[Outage]:
        """Going on now: started, and (unplanned, until completed) or (planned, until its end)."""
        query = (
            select(Outage)
            .where(
                Outage.status == "published",
                Outage.cancelled_at.is_(None),
                Outage.completed_at.is_(None),
                Outage.starts_at <= now,
                or_(Outage.kind == "unplanned", Outage.ends_at > now),
            )
            .options(selectinload(Outage.areas), selectinload(Outage.feeders))
            .order_by(Outage.kind.desc(), Outage.starts_at)  # unplanned first
        )
        if account is not None:
            query = query.where(_touches(account))
        return list(await self.session.scalars(query))

    async def upcoming(
        self,
        now: datetime,
        account: UtilityAccount | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
    ) -> list[Outage]:
        """Planned outages that have not started yet (within since..until, when given), soonest first."""
        query = (
            select(Outage)
            .where(
                Outage.kind == "planned",
                Outage.status == "published",
                Outage.cancelled_at.is_(None),
                Outage.starts_at > now,
            )
            .options(selectinload(Outage.areas), selectinload(Outage.feeders))
            .order_by(Outage.starts_at)
            .limit(limit)
        )
        if account is not None:
            query = query.where(_touches(account))
        if since is not None:
            query = query.where(Outage.starts_at >= since)
        if until is not None:
            query = query.where(Outage.starts_at < until)
        return list(await self.session.scalars(query))

    async def places(self, outages: Iterable[Outage]) -> tuple[dict[str, Area], dict[str, Feeder]]:
        """The areas and feeders the outages name, by code."""
        outages = list(outages)
        area_codes = {a.area_code for o in outages for a in o.areas}
        feeder_codes = {f.feeder_code for o in outages for f in o.feeders}
        areas = {a.code: a for a in await self.session.scalars(select(Area).where(Area.code.in_(area_codes)))}
        feeders = {f.code: f for f in await self.session.scalars(select(Feeder).where(Feeder.code.in_(feeder_codes)))}
        # a feeder's area is named too
        missing = {f.area_code for f in feeders.values()} - set(areas)
        if missing:
            areas.update({a.code: a for a in await self.session.scalars(select(Area).where(Area.code.in_(missing)))})
        return areas, feeders
