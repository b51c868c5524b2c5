"""Personal data: a customer's export and erasure, transcript retention, database backup (docs/PRIVACY.md)."""

from core.privacy.service import ErasureReport, PrivacyAction, PrivacyService, PurgeReport, Subject

__all__ = ["ErasureReport", "PrivacyAction", "PrivacyService", "PurgeReport", "Subject"]
