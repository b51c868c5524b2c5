from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CreatedAt, EnumString, enum_check
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage


class Application(CreatedAt, Base):
    """A customer's application (业扩报装: a new connection, a capacity change, an EV charger, rooftop solar) as it
    goes through its stages. `stage` is the current one, begun at `stage_started_at`, due by `due_at` (its time
    limit from the settings; none once connected) under `owner_id`, the staff member responsible. `outage_id`:
    the planned outage connecting it needs, when there is one."""

    __tablename__ = "applications"
    __table_args__ = (
        enum_check("kind", ApplicationKind),
        enum_check("stage", ApplicationStage),
        Index("ix_applications_stage_due", "stage", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), index=True)
    kind: Mapped[ApplicationKind] = mapped_column(EnumString(ApplicationKind, 20))
    stage: Mapped[ApplicationStage] = mapped_column(EnumString(ApplicationStage, 24))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id", ondelete="SET NULL"), index=True)
    stage_started_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime]


class ApplicationEvent(Base):
    """One line of an application's history: created, advanced or reopened (from one stage to another), by whom,
    with what note, and the due time the new stage got. Written with every change; never changed."""

    __tablename__ = "application_events"
    __table_args__ = (
        enum_check("kind", ApplicationEventKind),
        enum_check("from_stage", ApplicationStage),
        enum_check("to_stage", ApplicationStage),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[ApplicationEventKind] = mapped_column(EnumString(ApplicationEventKind, 10))
    from_stage: Mapped[ApplicationStage | None] = mapped_column(EnumString(ApplicationStage, 24))
    to_stage: Mapped[ApplicationStage] = mapped_column(EnumString(ApplicationStage, 24))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None]
    at: Mapped[datetime]
