"""SQLAlchemy 2 models, one module per aggregate. Importing this package registers every table."""

from core.models.applications import Application, ApplicationEvent
from core.models.base import Base, UTCDateTime
from core.models.billing import Bill, BillLine, Tariff
from core.models.conversations import Conversation, Escalation, Feedback, FollowUp, Message, Survey
from core.models.customers import (
    Area,
    BindingAttempt,
    Customer,
    Feeder,
    Identity,
    IdentityAccount,
    KeyAccountContact,
    KeyAccountProfile,
    UtilityAccount,
    VerificationCode,
)
from core.models.nlu import NluAnnotation
from core.models.notices import NoticeDelivery, NoticeStage
from core.models.operations import WorkerHeartbeat
from core.models.outages import (
    FaultTicket,
    FeederAlert,
    Outage,
    OutageAccount,
    OutageArea,
    OutageEstimate,
    OutageFeeder,
    OutageReport,
    TicketAttachment,
)
from core.models.staff import AuditLog, StaffSession, StaffUser

__all__ = [
    "Application",
    "ApplicationEvent",
    "Area",
    "AuditLog",
    "Base",
    "Bill",
    "BillLine",
    "BindingAttempt",
    "Conversation",
    "Customer",
    "Escalation",
    "FaultTicket",
    "Feedback",
    "Feeder",
    "FeederAlert",
    "FollowUp",
    "Identity",
    "IdentityAccount",
    "KeyAccountContact",
    "KeyAccountProfile",
    "Message",
    "NluAnnotation",
    "NoticeDelivery",
    "NoticeStage",
    "Outage",
    "OutageAccount",
    "OutageArea",
    "OutageEstimate",
    "OutageFeeder",
    "OutageReport",
    "StaffSession",
    "StaffUser",
    "Survey",
    "Tariff",
    "TicketAttachment",
    "UTCDateTime",
    "UtilityAccount",
    "VerificationCode",
    "WorkerHeartbeat",
]
