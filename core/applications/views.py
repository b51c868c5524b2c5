"""The shapes in and out of ApplicationService: what staff ask for (a new application, a change) and what they and
the chat are shown (an application, its history, a customer's applications). Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from core.applications.progress import Progress
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage, Segment


class Keep(Enum):
    """A field of a change left as it is."""

    KEEP = 0


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class NewApplication:
    account_number: str
    kind: ApplicationKind
    description: str = ""
    owner: str | None = None  # a staff username; None: the key account's manager, else the creator
    outage_id: int | None = None  # the planned outage connecting it needs


@dataclass(frozen=True, slots=True)
class ApplicationChanges:
    outage_id: int | Keep | None = KEEP  # None: unlinked
    owner: str | Keep = KEEP


@dataclass(frozen=True, slots=True)
class ApplicationView:
    id: int
    account_number: str
    customer_name: str
    segment: Segment
    kind: ApplicationKind
    stage: ApplicationStage
    step: int  # which step of the kind's route the stage is (1-based)
    steps: int
    next_stage: ApplicationStage | None
    due_at: datetime | None
    overdue: bool
    owner: str | None  # username of the staff member responsible
    owner_name: str | None
    description: str
    outage_id: int | None
    stage_started_at: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    kind: ApplicationEventKind
    from_stage: ApplicationStage | None
    to_stage: ApplicationStage
    staff: str | None  # username
    note: str
    due_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ApplicationDetail(ApplicationView):
    route: tuple[ApplicationStage, ...] = ()  # the stages its kind goes through
    events: tuple[EventView, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerApplications:
    """A customer's applications as the chat tells them: those in progress, and the latest done ones."""

    open: list[Progress] = field(default_factory=list)
    connected: list[Progress] = field(default_factory=list)
