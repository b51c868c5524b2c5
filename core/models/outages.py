from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import AttachmentKind, OutageKind, OutageStatus, TicketStatus


class Outage(CreatedAt, Base):
    __tablename__ = "outages"
    __table_args__ = (enum_check("kind", OutageKind), enum_check("status", OutageStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutageKind] = mapped_column(EnumString(OutageKind, 10))
    status: Mapped[OutageStatus] = mapped_column(EnumString(OutageStatus, 10), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    estimated_restoration_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    areas: Mapped[list[OutageArea]] = relationship(cascade="all, delete-orphan")
    feeders: Mapped[list[OutageFeeder]] = relationship(cascade="all, delete-orphan")
    accounts: Mapped[list[OutageAccount]] = relationship(cascade="all, delete-orphan")


class OutageArea(Base):
    __tablename__ = "outage_areas"

    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True, index=True)


class OutageFeeder(Base):
    __tablename__ = "outage_feeders"

    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), primary_key=True)
    feeder_code: Mapped[str] = mapped_column(ForeignKey("feeders.code"), primary_key=True, index=True)


class OutageAccount(Base):
    __tablename__ = "outage_accounts"

    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), primary_key=True, index=True)


class FaultTicket(CreatedAt, Base):
    """A fault or hazard a customer reported (报修)."""

    __tablename__ = "fault_tickets"
    __table_args__ = (enum_check("status", TicketStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"))
    location: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    hazard: Mapped[bool] = mapped_column(default=False)
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[TicketStatus] = mapped_column(EnumString(TicketStatus, 12), default=TicketStatus.RECEIVED)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"), index=True)  # the outage it is part of
    updated_at: Mapped[datetime | None]  # the last change of status


class OutageEstimate(Base):
    """One estimate of a fault outage's restoration, as staff set it: the history of "expected back by"."""

    __tablename__ = "outage_estimates"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), index=True)
    estimated_restoration_at: Mapped[datetime]
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    changed_at: Mapped[datetime]


class OutageReport(CreatedAt, Base):
    """A customer's "no power here": counted on the known outage it falls in (outage_id), or, outside any,
    kept by feeder so that several on one feeder flag a probable fault (FeederAlert)."""

    __tablename__ = "outage_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), index=True)
    feeder_code: Mapped[str | None] = mapped_column(ForeignKey("feeders.code"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("utility_accounts.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("fault_tickets.id"))


class FeederAlert(CreatedAt, Base):
    """A probable fault outage: enough reports on one feeder within a few minutes, for staff to look at."""

    __tablename__ = "feeder_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    feeder_code: Mapped[str] = mapped_column(ForeignKey("feeders.code"), index=True)
    reports: Mapped[int]
    first_report_at: Mapped[datetime]
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))  # the outage staff made of it
    closed_at: Mapped[datetime | None]


class TicketAttachment(CreatedAt, Base):
    """A photo or a location the customer sent with a fault report."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (enum_check("kind", AttachmentKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("fault_tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(EnumString(AttachmentKind, 10))
    file_id: Mapped[str | None] = mapped_column(String(200))  # the channel's own reference (Telegram file_id)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # the photo itself, fetched when it arrived
    content_type: Mapped[str | None] = mapped_column(String(50))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
