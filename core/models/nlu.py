"""What staff taught the NLU: the intent a customer message should have had (the "not understood" inbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class NluAnnotation(Base):
    """One customer message's right intent, chosen by a staff member. One row per message: annotating it again
    replaces the intent (and makes it due for export again). exported_at: when `gridtalk nlu
    export-annotations` last wrote it to the training data (None: not yet)."""

    __tablename__ = "nlu_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    intent: Mapped[str] = mapped_column(String(60))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    annotated_at: Mapped[datetime]
    exported_at: Mapped[datetime | None] = mapped_column(index=True)
