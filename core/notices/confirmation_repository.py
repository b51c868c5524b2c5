"""The SQL of the answers to notices: open notices of a person, one notice's rows on every channel, the
final confirmations nobody answered, and the escalations a Problem press made. Never commits."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.models import Escalation, FaultTicket, KeyAccountContact, NoticeDelivery, NoticeStage, Outage
from core.models.enums import DeliveryChannel, DeliveryStatus, EscalationState, OutageStatus, Stage, Tier


def confirmation_owed() -> ColumnElement[bool]:
    """A notice_deliveries row (NoticeDelivery, as the query names it) that is a key account's final confirmation
    still owed: sent, of a published outage (the query joins Outage), in the latest round of the final notice
    (a reschedule that plans the final notice again makes an earlier round moot: the new one will ask), and no
    contact of the account confirmed this round or a later one. The one rule of the chase and of the console's
    overview."""
    acked = aliased(NoticeDelivery)
    confirmed = (
        select(acked.id)
        .where(
            acked.outage_id == NoticeDelivery.outage_id,
            acked.account_id == NoticeDelivery.account_id,
            acked.stage == Stage.FINAL,
            acked.revision >= NoticeDelivery.revision,
            acked.status == DeliveryStatus.ACKED,
        )
        .exists()
    )
    superseded = (
        select(NoticeStage.id)
        .where(
            NoticeStage.outage_id == NoticeDelivery.outage_id,
            NoticeStage.stage == Stage.FINAL,
            NoticeStage.revision > NoticeDelivery.revision,
        )
        .exists()
    )
    return and_(
        NoticeDelivery.tier == Tier.KEY_ACCOUNT,
        NoticeDelivery.stage == Stage.FINAL,
        NoticeDelivery.status == DeliveryStatus.SENT,
        Outage.status == OutageStatus.PUBLISHED,
        ~confirmed,
        ~superseded,
    )


class ConfirmationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ticket_after_restoration(self, identity_id: int, outage_id: int, since: datetime) -> FaultTicket | None:
        """The ticket a "still no power" press of this person opened for this outage since its restoration
        notice was made (the latest), if any."""
        query = (
            select(FaultTicket)
            .where(
                FaultTicket.identity_id == identity_id,
                FaultTicket.outage_id == outage_id,
                FaultTicket.created_at >= since,
            )
            .order_by(FaultTicket.id.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def open_for(
        self, *, identity_id: int | None, chat_id: int | None, stages: Collection[str] | None, now: datetime
    ) -> list[NoticeDelivery]:
        """Notices sent to this person, not acknowledged, of outages still to come or under way; newest first."""
        who: list[ColumnElement[bool]] = []
        if identity_id is not None:
            who.append(NoticeDelivery.identity_id == identity_id)
        if chat_id is not None:
            who.append(
                and_(NoticeDelivery.telegram_chat_id == chat_id, NoticeDelivery.channel == DeliveryChannel.TELEGRAM)
            )
        if not who:
            return []
        where = [
            or_(*who),
            NoticeDelivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.SENDING)),
            NoticeDelivery.tier != Tier.STAFF,
            Outage.status == OutageStatus.PUBLISHED,
            Outage.ends_at > now,
        ]
        if stages is not None:
            where.append(NoticeDelivery.stage.in_(list(stages)))
        rows = await self.session.scalars(
            select(NoticeDelivery)
            .join(Outage, Outage.id == NoticeDelivery.outage_id)
            .where(*where)
            .order_by(NoticeDelivery.sent_at.desc(), NoticeDelivery.id.desc())
        )
        return list(rows)

    async def open_problem(self, delivery_id: int) -> Escalation | None:
        return await self.session.scalar(
            select(Escalation).where(
                Escalation.delivery_id == delivery_id,
                Escalation.reason == "notice_problem",
                Escalation.state.in_((EscalationState.PENDING, EscalationState.ASSIGNED)),
            )
        )

    async def unconfirmed_contact_names(self, outage_id: int, account_id: int, revision: int) -> list[str]:
        """Names of a key account's contacts whose final confirmation (of that round) is unanswered."""
        rows = await self.session.scalars(
            select(KeyAccountContact.name)
            .join(NoticeDelivery, NoticeDelivery.key_contact_id == KeyAccountContact.id)
            .where(
                NoticeDelivery.outage_id == outage_id,
                NoticeDelivery.account_id == account_id,
                NoticeDelivery.revision == revision,
                NoticeDelivery.tier == Tier.KEY_ACCOUNT,
                NoticeDelivery.status == DeliveryStatus.SENT,
                NoticeDelivery.stage == Stage.FINAL,
            )
            .distinct()
            .order_by(KeyAccountContact.name)
        )
        return list(rows)

    async def same_notice(self, delivery: NoticeDelivery) -> list[NoticeDelivery]:
        """The rows of one notice to one person (every channel it went on)."""
        return list(
            await self.session.scalars(
                select(NoticeDelivery).where(
                    NoticeDelivery.subject_kind == delivery.subject_kind,
                    NoticeDelivery.subject_id == delivery.subject_id,
                    NoticeDelivery.contact_key == delivery.contact_key,
                    NoticeDelivery.stage == delivery.stage,
                    NoticeDelivery.revision == delivery.revision,
                )
            )
        )

    async def unconfirmed(self, sent_before: datetime) -> list[NoticeDelivery]:
        """Key-account final confirmations sent before `sent_before`, still owed (confirmation_owed) and not
        chased yet."""
        rows = await self.session.scalars(
            select(NoticeDelivery)
            .join(Outage, Outage.id == NoticeDelivery.outage_id)
            .where(
                confirmation_owed(),
                NoticeDelivery.sent_at <= sent_before,
                NoticeDelivery.unconfirmed_alerted_at.is_(None),
            )
            .order_by(NoticeDelivery.outage_id, NoticeDelivery.account_id, NoticeDelivery.id)
        )
        return list(rows)
