from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class WorkerHeartbeat(Base):
    """A background process's last sign of life (a worker's last tick), for /readyz and the supervisor."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "worker@host:pid"
    beat_at: Mapped[datetime]
