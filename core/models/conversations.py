from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt


class Conversation(CreatedAt, Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="open")
    last_message_at: Mapped[datetime | None]


class Message(CreatedAt, Base):
    """One message of a transcript, in or out, with what the NLU understood of it."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str | None] = mapped_column(String(200))
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    intent: Mapped[str | None] = mapped_column(String(60))
    confidence: Mapped[float | None]
    truncated: Mapped[bool] = mapped_column(default=False)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class Escalation(CreatedAt, Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("notice_deliveries.id"))
    reason: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class Feedback(CreatedAt, Base):
    """A satisfaction answer (1–5) and its optional comment."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
