from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import (
    ChatChannel,
    ConversationState,
    Direction,
    EscalationReason,
    EscalationState,
    FeedbackAspect,
    FollowUpState,
    Priority,
    Sentiment,
    SurveyTrigger,
)


class Conversation(CreatedAt, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        enum_check("channel", ChatChannel),
        enum_check("state", ConversationState),
        Index("ix_conversations_created_at", "created_at"),  # the KPIs: conversations started in a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    channel: Mapped[ChatChannel] = mapped_column(EnumString(ChatChannel, 10))
    state: Mapped[ConversationState] = mapped_column(EnumString(ConversationState, 10), default=ConversationState.OPEN)
    last_message_at: Mapped[datetime | None]


class Message(CreatedAt, Base):
    """One message of a transcript, in or out, with what the NLU understood of it."""

    __tablename__ = "messages"
    __table_args__ = (
        enum_check("channel", ChatChannel),
        enum_check("direction", Direction),
        # the KPIs: the customers' messages of a period (on PostgreSQL the index alone answers: NLU fallback rate,
        # which conversations the customer wrote in)
        Index(
            "ix_messages_inbound",
            "created_at",
            postgresql_include=["conversation_id", "intent", "confidence"],
            postgresql_where=text("direction = 'in'"),
            sqlite_where=text("direction = 'in'"),
        ),
    )

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
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), index=True)
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
    __table_args__ = (enum_check("sentiment", Sentiment), Index("ix_feedback_created_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    sentiment: Mapped[Sentiment | None] = mapped_column(EnumString(Sentiment, 10))  # of the comment's words
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)  # a survey's answer


class Survey(CreatedAt, Base):
    """One satisfaction survey (1-5 stars as buttons) sent in a conversation: at most one per conversation; the
    customer (the bound account, else the identity) gets at most a few a day. What the reports group by is
    kept on it as it was when it was sent: channel, language, segment, the agent who handled it, the intent
    last answered."""

    __tablename__ = "surveys"
    __table_args__ = (
        enum_check("channel", ChatChannel),
        enum_check("trigger", SurveyTrigger),
        enum_check("aspect", FeedbackAspect),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"), index=True)
    channel: Mapped[ChatChannel] = mapped_column(EnumString(ChatChannel, 10))
    language: Mapped[str] = mapped_column(String(2))
    segment: Mapped[str | None] = mapped_column(String(20))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    intent: Mapped[str | None] = mapped_column(String(60))
    trigger: Mapped[SurveyTrigger] = mapped_column(EnumString(SurveyTrigger, 10))
    sent_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None]
    aspect: Mapped[FeedbackAspect | None] = mapped_column(EnumString(FeedbackAspect, 10))


class FollowUp(CreatedAt, Base):
    """A return visit (回访) to a customer who gave a low score: its owner (the key account's manager, else the
    agent who handled the conversation; none: the supervisors' queue), due in a day, closed with a note."""

    __tablename__ = "followups"
    __table_args__ = (enum_check("state", FollowUpState),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[FollowUpState] = mapped_column(EnumString(FollowUpState, 10), default=FollowUpState.OPEN, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
