"""The NLU annotation loop: the "not understood" inbox staff answer in the console, and its export as training
data (`gridtalk nlu export-annotations`)."""

from core.nlu_review.service import CHOICES, ExportReport, NluReview, NluReviewAction, Reason, WaitingMessage

__all__ = ["CHOICES", "ExportReport", "NluReview", "NluReviewAction", "Reason", "WaitingMessage"]
