from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt

STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
DELIVERY_CHANNELS = ("telegram", "email", "sms")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "blocked", "acked")


class NoticeDelivery(CreatedAt, Base):
    """One notice to one contact on one channel: the outbox row the worker claims, sends and records.

    contact_key names the person (e.g. "identity:12" or "contact:7") so that the row is unique per
    outage × contact × stage × channel, whichever address the notice goes to.
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("outage_id", "contact_key", "stage", "channel"),
        Index("ix_notice_deliveries_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    contact_key: Mapped[str] = mapped_column(String(40))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    key_contact_id: Mapped[int | None] = mapped_column(ForeignKey("key_account_contacts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"))
    segment: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(255))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2), default="zh")
    priority: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    unconfirmed_alerted_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
