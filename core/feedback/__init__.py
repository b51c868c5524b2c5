"""Customer feedback: satisfaction surveys in the chat (surveys.py), follow-ups of low scores
(followups.py), the report (reports.py), and free-text comments with the sentiment of their words."""

from core.feedback.sentiment import sentiment_of
from core.feedback.service import FeedbackService

__all__ = ["FeedbackService", "sentiment_of"]
