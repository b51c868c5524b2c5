"""Customer feedback: free-text comments from the chat, with the sentiment of their words (CSAT surveys and
follow-ups come next)."""

from core.feedback.sentiment import sentiment_of
from core.feedback.service import FeedbackService

__all__ = ["FeedbackService", "sentiment_of"]
