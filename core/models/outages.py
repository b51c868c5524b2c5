from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import OutageKind, OutageStatus, TicketStatus


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
