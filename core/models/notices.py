from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt, EnumString, IntEnumType, enum_check
from core.models.enums import (
    AlertKind,
    ApplicationNotice,
    Audience,
    BillNotice,
    DeliveryChannel,
    DeliveryStatus,
    Language,
    MessagePurpose,
    Segment,
    Stage,
    StageStatus,
    SubjectKind,
    Tier,
)

QUEUE = "status IN ('pending', 'sending')"  # the rows a claim may take: pending, or 'sending' past its lease


class NoticeDelivery(CreatedAt, Base):
    """One message to one person on one channel: the outbox row the worker claims, sends and records.

    The row is about a subject (subject_kind, subject_id): an outage (its id is also in outage_id), a
    message of a conversation (a staff reply to a Telegram customer), an escalation (an alert to staff), an
    application (its stage changed: stage 'progress', revision the id of the application event told), a bill
    (stage 'statement', 'correction', 'due' or 'arrears').
    contact_key names the person (e.g. "identity:12" or "contact:7") so that the row is unique per subject
    × contact × stage × channel, whichever address it goes to. revision tells apart the rounds of a stage
    that can be told more than once (a second reschedule sends a second change notice). tier orders the
    outbox: staff alerts (0, stage an AlertKind), messages of a live conversation (1, stage 'reply'), key
    accounts (2), everybody else (3). next_attempt_at is when the dispatcher may claim the row: the stage's
    fan-out start, a retry's time, or, while the row is 'sending', the end of the claim's lease. After
    deadline_at the row is not sent (it becomes 'skipped').
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "subject_kind",
            "subject_id",
            "contact_key",
            "stage",
            "channel",
            "revision",
            name="uq_notice_deliveries_round",
        ),
        Index("ix_notice_deliveries_due", "status", "due_at"),
        Index("ix_notice_deliveries_claim", "status", "tier", "next_attempt_at"),
        # The outbox claim's order over the rows still to send (QueueRepository.claim): a claim reads its batch
        # off this index instead of sorting every due row; a sent row leaves it, so it stays small.
        Index(
            "ix_notice_deliveries_queue",
            "tier",
            text("priority DESC"),
            "due_at",
            "id",
            postgresql_where=text(QUEUE),
            sqlite_where=text(QUEUE),
        ),
        enum_check("subject_kind", SubjectKind),
        enum_check("tier", Tier),
        enum_check("segment", Segment),
        enum_check("stage", Stage, AlertKind, MessagePurpose, ApplicationNotice, BillNotice),
        enum_check("channel", DeliveryChannel),
        enum_check("language", Language),
        enum_check("status", DeliveryStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[SubjectKind] = mapped_column(
        EnumString(SubjectKind, 20), default=SubjectKind.OUTAGE, server_default=SubjectKind.OUTAGE.value
    )
    subject_id: Mapped[int]
    tier: Mapped[Tier] = mapped_column(IntEnumType(Tier))
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"), index=True)
    contact_key: Mapped[str] = mapped_column(String(40))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    key_contact_id: Mapped[int | None] = mapped_column(ForeignKey("key_account_contacts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"))
    segment: Mapped[Segment] = mapped_column(EnumString(Segment, 20))
    stage: Mapped[Stage | AlertKind | MessagePurpose | ApplicationNotice | BillNotice] = mapped_column(
        EnumString((Stage, AlertKind, MessagePurpose, ApplicationNotice, BillNotice), 10)
    )
    revision: Mapped[int] = mapped_column(default=0)
    channel: Mapped[DeliveryChannel] = mapped_column(EnumString(DeliveryChannel, 10))
    address: Mapped[str] = mapped_column(String(255))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[Language] = mapped_column(EnumString(Language, 2), default=Language.ZH)
    priority: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]
    status: Mapped[DeliveryStatus] = mapped_column(EnumString(DeliveryStatus, 10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    unconfirmed_alerted_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(32))  # the claim (batch) that holds a 'sending' row


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
        enum_check("stage", Stage),
        enum_check("audience", Audience),
        enum_check("status", StageStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    stage: Mapped[Stage] = mapped_column(EnumString(Stage, 10))
    audience: Mapped[Audience] = mapped_column(EnumString(Audience, 12))
    revision: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    send_from: Mapped[datetime]
    status: Mapped[StageStatus] = mapped_column(EnumString(StageStatus, 10), default=StageStatus.PLANNED)
    recipients: Mapped[int] = mapped_column(default=0)
    resolved_at: Mapped[datetime | None]
