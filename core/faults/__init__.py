"""Fault reports (报修): hazards first, then a ticket with a reference number."""

from core.faults.hazards import HazardKind, hazards_in, is_generic_request, mentions_home
from core.faults.service import FaultReport, FaultService

__all__ = ["FaultReport", "FaultService", "HazardKind", "hazards_in", "is_generic_request", "mentions_home"]
