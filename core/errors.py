"""Domain errors share one base class; each transport maps them (an HTTP status, a polite bot reply)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose. `code` is stable and machine-readable."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid_input"


class Conflict(DomainError):
    code = "conflict"


class PermissionDenied(DomainError):
    code = "permission_denied"
