"""The closed sets of gridtalk, one StrEnum each, shared by the models (with a CHECK constraint per column),
the services and the API schemas (so OpenAPI lists the allowed values).

A StrEnum member is a str: it compares equal to its value, is stored as its value and serialises as it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class ChatChannel(StrEnum):
    """Where a customer talks to gridtalk (an identity's channel)."""

    TELEGRAM = "telegram"
    WEB = "web"


class DeliveryChannel(StrEnum):
    """How an outbox message reaches its recipient."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    SMS = "sms"


class Segment(StrEnum):
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"
    INDUSTRIAL = "industrial"
    PUBLIC = "public"
    KEY_ACCOUNT = "key_account"


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    ACCOUNT_MANAGER = "account_manager"


class OutageKind(StrEnum):
    PLANNED = "planned"
    UNPLANNED = "unplanned"


class OutageStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Stage(StrEnum):
    """A customer notice of an outage: the three of the notice rule, the late initial notice, and the
    change, cancellation and restoration notices."""

    FIRST = "15d"
    SECOND = "7d"
    FINAL = "30m"
    INITIAL = "initial"
    CHANGE = "change"
    CANCEL = "cancel"
    RESTORED = "restored"


class AlertKind(StrEnum):
    """A message to a key account's manager: a final confirmation unanswered, a problem reported."""

    UNCONFIRMED = "alert"
    PROBLEM = "problem"


class Audience(StrEnum):
    """The two groups an outage's notice plan is made for, key accounts first."""

    KEY_ACCOUNT = "key_account"
    RESIDENTIAL = "residential"


class StageStatus(StrEnum):
    PLANNED = "planned"  # waiting for its time to start sending
    RESOLVED = "resolved"  # started: its audience resolved, its rows released to the dispatcher
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    ACKED = "acked"
    CANCELLED = "cancelled"  # will never be sent (outage cancelled or re-planned, recipient gone)
    SKIPPED = "skipped"  # its deadline passed before it could be sent


class Tier(IntEnum):
    """The outbox's order: staff alerts, then key accounts, then everybody else. A lower tier starts
    sending only when every send of the tier above has finished."""

    STAFF = 0
    KEY_ACCOUNT = 1
    EVERYONE = 2


class SubjectKind(StrEnum):
    """What an outbox message is about (the subject's id is beside it)."""

    OUTAGE = "outage"


class ConversationState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class EscalationState(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class TicketStatus(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    ON_SITE = "on_site"
    FIXED = "fixed"
    CLOSED = "closed"


def values(*enums: type[StrEnum]) -> tuple[str, ...]:
    """The values of one or more StrEnums, in order (for CHECK constraints and messages)."""
    return tuple(member.value for enum in enums for member in enum)
