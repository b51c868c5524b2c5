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


class CodePurpose(StrEnum):
    """What a one-time code proves: an email address is the customer's (notices by email from the web chat),
    or the customer holds the phone registered on an account (binding by SMS)."""

    EMAIL = "email"
    BINDING = "binding"


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
    """A message to staff: a key account's final confirmation unanswered, a problem reported (to its
    manager); an escalation waiting past the first-response target (to the supervisors)."""

    UNCONFIRMED = "alert"
    PROBLEM = "problem"
    OVERDUE = "overdue"


class MessagePurpose(StrEnum):
    """Why a message of a conversation is sent out of turn."""

    REPLY = "reply"  # a staff reply, or what the service says to a waiting customer


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
    """The outbox's order: alerts to staff, then messages in a live conversation (a staff reply), then key
    accounts, then everybody else. A lower tier starts sending only when every send of the tier above has
    finished."""

    STAFF = 0
    CONVERSATION = 1
    KEY_ACCOUNT = 2
    EVERYONE = 3


class SubjectKind(StrEnum):
    """What an outbox message is about (the subject's id is beside it)."""

    OUTAGE = "outage"  # a notice of an outage (its stage is the purpose), or an alert about it to staff
    MESSAGE = "message"  # a message of a conversation sent out of turn (a staff reply), by its transcript row
    ESCALATION = "escalation"  # an alert to staff about an escalation (overdue)
    APPLICATION = "application"  # a customer's application (业扩) moved to another stage
    BILL = "bill"  # a customer's bill: its statement mailed, a reminder before or after its due date


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


class EscalationReason(StrEnum):
    HUMAN_HANDOFF = "human_handoff"  # the customer asked for a person
    COMPLAINT = "complaint"
    REPEATED_FALLBACK = "repeated_fallback"  # the bot failed to understand several times in a row
    HAZARD = "hazard"  # a fault report describing a danger
    NOTICE_PROBLEM = "notice_problem"  # a Problem press on an outage notice


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class TicketStatus(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    ON_SITE = "on_site"
    FIXED = "fixed"
    CLOSED = "closed"


class Sentiment(StrEnum):
    """What a free-text comment's words say about the service (core.feedback.sentiment)."""

    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class SurveyTrigger(StrEnum):
    """Why a satisfaction survey was sent: staff resolved the conversation, the customer thanked or said goodbye
    after an answer, or went quiet after one."""

    RESOLVED = "resolved"
    THANKED = "thanked"
    QUIET = "quiet"


class FeedbackAspect(StrEnum):
    """What mattered most to a key account that gave a low score."""

    SUPPLY = "supply"  # supply reliability
    SERVICE = "service"  # service quality
    COMPLAINT = "complaint"  # complaint handling


class FollowUpState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AttachmentKind(StrEnum):
    """What a customer sent with a fault report."""

    PHOTO = "photo"
    LOCATION = "location"


class ApplicationKind(StrEnum):
    """What a customer applies for (业扩报装 and its kin)."""

    NEW_CONNECTION = "new_connection"  # 新装
    CAPACITY_INCREASE = "capacity_increase"  # 增容
    CAPACITY_DECREASE = "capacity_decrease"  # 减容
    EV_CHARGER = "ev_charger"  # 充电桩
    ROOFTOP_SOLAR = "rooftop_solar"  # 光伏并网


class ApplicationStage(StrEnum):
    """The stages of an application, in order; which of them a kind passes through is a setting
    (core.applications.stages). `connected` is the last: the meter installed and power on."""

    ACCEPTED = "accepted"  # 受理
    SITE_SURVEY = "site_survey"  # 现场勘查
    SUPPLY_PLAN = "supply_plan"  # 方案答复
    DESIGN_REVIEW = "design_review"  # 设计审查
    INTERIM_INSPECTION = "interim_inspection"  # 中间检查
    COMPLETION_INSPECTION = "completion_inspection"  # 竣工检验
    CONNECTED = "connected"  # 装表接电


class ApplicationEventKind(StrEnum):
    """A line of an application's history."""

    CREATED = "created"
    ADVANCED = "advanced"  # moved to a later stage
    REOPENED = "reopened"  # moved back to an earlier stage, with a note


class ApplicationNotice(StrEnum):
    """Why an outbox message about an application is sent (the purpose of a row whose subject is one)."""

    PROGRESS = "progress"  # its stage changed: told to the account's contacts / bound customers


class BillNotice(StrEnum):
    """Why an outbox message about a bill is sent (the purpose of a row whose subject is one)."""

    STATEMENT = "statement"  # the month's statement, by email to a key account's contacts (or on request)
    CORRECTION = "correction"  # the statement again: an import changed the bill's figures after it was mailed
    DUE = "due"  # the bill falls due in a few days (customers who opted in)
    ARREARS = "arrears"  # the due date has passed and the bill is unpaid (customers who opted in)


def values(*enums: type[StrEnum]) -> tuple[str, ...]:
    """The values of one or more StrEnums, in order (for CHECK constraints and messages)."""
    return tuple(member.value for enum in enums for member in enum)
