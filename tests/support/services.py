"""The domain services as a process builds them (core.services.CoreServices), for tests."""

from __future__ import annotations

from core.clock import Clock
from core.config import Settings
from core.notices.confirmations import ConfirmationService
from core.services import CoreServices


def core_services(clock: Clock, settings: Settings) -> CoreServices:
    return CoreServices.build(settings, clock)


def confirmations(clock: Clock, settings: Settings | None = None) -> ConfirmationService:
    """Confirmations; answering a notice needs no setting, so tests that only answer may leave them out."""
    return ConfirmationService(clock, settings or Settings(env="test"))
