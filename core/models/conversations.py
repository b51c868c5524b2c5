from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import ChatChannel, ConversationState, Direction, EscalationReason, EscalationState, Priority


class Conversation(CreatedAt, Base):
    __tablename__ = "conversations"
    __table_args__ = (enum_check("channel", ChatChannel), enum_check("state", ConversationState))

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    channel: Mapped[ChatChannel] = mapped_column(EnumString(ChatChannel, 10))
    state: Mapped[ConversationState] = mapped_column(EnumString(ConversationState, 10), default=ConversationState.OPEN)
    last_message_at: Mapped[datetime | None]


class Message(CreatedAt, Base):
    """One message of a transcript, in or out, with what the NLU understood of it."""

    __tablename__ = "messages"
    __table_args__ = (enum_check("channel", ChatChannel), enum_check("direction", Direction))

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[ChatChannel] = mapped_column(EnumString(ChatChannel, 10))
    direction: Mapped[Direction] = mapped_column(EnumString(Direction, 3))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str | None] = mapped_column(String(200))
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    intent: Mapped[str | None] = mapped_column(String(60))
    confidence: Mapped[float | None]
    truncated: Mapped[bool] = mapped_column(default=False)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class Escalation(CreatedAt, Base):
    __tablename__ = "escalations"
    __table_args__ = (
        enum_check("priority", Priority),
        enum_check("state", EscalationState),
        enum_check("reason", EscalationReason),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("notice_deliveries.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"), index=True)
    reason: Mapped[EscalationReason] = mapped_column(EnumString(EscalationReason, 40))
    priority: Mapped[Priority] = mapped_column(EnumString(Priority, 10), default=Priority.NORMAL)
    state: Mapped[EscalationState] = mapped_column(
        EnumString(EscalationState, 10), default=EscalationState.PENDING, index=True
    )
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]  # the first staff reply
    reopened_at: Mapped[datetime | None]  # the customer wrote again soon after it was resolved
    overdue_alerted_at: Mapped[datetime | None]  # past the first-response target: supervisors told
    waiting_told_at: Mapped[datetime | None]  # past the target: the customer told again they are waiting


class Feedback(CreatedAt, Base):
    """A satisfaction answer (1–5) and its optional comment."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
