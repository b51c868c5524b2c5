from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt

STAGES = ("15d", "7d", "30m", "initial", "change", "cancel", "restored")
DELIVERY_CHANNELS = ("telegram", "email", "sms")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "blocked", "acked", "cancelled")
STAFF_STAGES = ("alert", "problem")  # outbox rows to an account manager: unconfirmed, problem reported
STAGE_AUDIENCES = ("key_account", "residential")
STAGE_STATUSES = ("planned", "resolved", "cancelled")


class NoticeDelivery(CreatedAt, Base):
    """One notice to one contact on one channel: the outbox row the worker claims, sends and records.

    contact_key names the person (e.g. "identity:12" or "contact:7") so that the row is unique per
    outage × contact × stage × channel, whichever address the notice goes to. revision tells apart the
    rounds of a stage that can be told more than once (a second reschedule sends a second change notice).
    next_attempt_at is when the dispatcher may claim the row: the stage's fan-out start, a retry's time,
    or, while the row is 'sending', the end of the claim's lease.
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("outage_id", "contact_key", "stage", "channel", "revision", name="uq_notice_deliveries_round"),
        Index("ix_notice_deliveries_due", "status", "due_at"),
        Index("ix_notice_deliveries_claim", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    contact_key: Mapped[str] = mapped_column(String(40))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    key_contact_id: Mapped[int | None] = mapped_column(ForeignKey("key_account_contacts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"))
    segment: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(default=0)
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


class NoticeStage(CreatedAt, Base):
    """One stage of an outage's notice plan for one audience (key accounts or residential subscribers).

    due_at is when the stage's notices are due (T-15d, T-7d, T-30m, or now); send_from is when sending
    starts so that the whole audience is told by due_at at the configured rate. The audience is resolved
    again when the stage starts (resolved_at), so later subscribers are included and unsubscribers are not.
    """

    __tablename__ = "notice_stages"
    __table_args__ = (
        UniqueConstraint("outage_id", "stage", "audience", "revision"),
        Index("ix_notice_stages_start", "status", "send_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    stage: Mapped[str] = mapped_column(String(10))
    audience: Mapped[str] = mapped_column(String(12))
    revision: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    send_from: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="planned")
    recipients: Mapped[int] = mapped_column(default=0)
    resolved_at: Mapped[datetime | None]
