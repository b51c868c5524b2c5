"""Customer feedback: free-text comments from the chat (CSAT surveys and follow-ups come next)."""

from core.feedback.service import FeedbackService

__all__ = ["FeedbackService"]
