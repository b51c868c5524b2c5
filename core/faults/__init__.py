"""Fault reports (报修): hazards first, then a ticket with a reference number; "no power" counted on a known
fault outage or kept by feeder (reports); photos and locations sent with a report (attachments)."""

from core.faults.attachments import Attachment, Location, Photo
from core.faults.hazards import HazardKind, hazards_in, is_generic_request, mentions_home, reports_power_loss
from core.faults.reports import CountedReport, OutageReports
from core.faults.service import FaultReport, FaultService

__all__ = [
    "Attachment",
    "CountedReport",
    "FaultReport",
    "FaultService",
    "HazardKind",
    "Location",
    "OutageReports",
    "Photo",
    "hazards_in",
    "is_generic_request",
    "mentions_home",
    "reports_power_loss",
]
