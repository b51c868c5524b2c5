"""The SQL of feedback. Inside the caller's session; never commits."""

from __future__ import annotations

from core.db.repository import RepositoryBase
from core.models import Feedback


class FeedbackRepository(RepositoryBase[Feedback]):
    model = Feedback
