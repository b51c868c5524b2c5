"""The rules of an application's stages, pure (no database, no clock): the stages each kind passes through, a
move forward (advance) or back (reopen, with a note), and when the current stage is due.

Time limits are in working days (Monday to Friday, less GRIDTALK_APPLICATION_HOLIDAYS) in the utility's
timezone, as the utility's own service rules count them: a stage begun at 10:00 on a working day with a limit
of N days is due at 10:00 on the N-th working day after; a stage begun on a day off counts as begun when the next
working day starts (00:00), so it is due at 00:00 on the N-th working day after that — never before one begun
later (at the same time on the next working day, a stage begun late on Saturday would be due after one begun
early on Sunday). A limit of 0 means no time limit. The last stage (connected) has none: the work is
done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from core.errors import Conflict, InvalidInput
from core.models.enums import ApplicationEventKind, ApplicationKind, ApplicationStage

ORDER: tuple[ApplicationStage, ...] = tuple(ApplicationStage)
FIRST, LAST = ORDER[0], ORDER[-1]

DEFAULT_DAYS = "accepted=1,site_survey=2,supply_plan=15,design_review=5,interim_inspection=3,completion_inspection=5"
ALL_STAGES = ",".join(ORDER)
SHORT_ROUTE = "accepted,site_survey,supply_plan,completion_inspection,connected"  # no design review, no interim
DEFAULT_ROUTES: dict[ApplicationKind, str] = {
    ApplicationKind.NEW_CONNECTION: ALL_STAGES,
    ApplicationKind.CAPACITY_INCREASE: ALL_STAGES,
    ApplicationKind.CAPACITY_DECREASE: "accepted,site_survey,completion_inspection,connected",
    ApplicationKind.EV_CHARGER: SHORT_ROUTE,
    ApplicationKind.ROOFTOP_SOLAR: SHORT_ROUTE,
}
WEEKEND = (5, 6)  # Saturday, Sunday


def _names(items: Iterable[StrEnum]) -> str:
    return ", ".join(items)


def _stage(name: str) -> ApplicationStage:
    try:
        return ApplicationStage(name.strip())
    except ValueError:
        raise ValueError(f"unknown stage {name.strip()!r}; known: {_names(ORDER)}") from None


def parse_days(text: str) -> dict[ApplicationStage, int]:
    """`stage=days,...` → the time limit of each stage but the last (stages left out keep their default)."""
    days = {} if text == DEFAULT_DAYS else parse_days(DEFAULT_DAYS)
    for part in (p for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValueError(f"{part.strip()!r} is not stage=days (days a whole number, 0: no limit)")
        stage = _stage(name)
        if stage == LAST:
            raise ValueError(f"{LAST} is the last stage: it has no time limit")
        days[stage] = int(value)
    return days


def parse_route(text: str) -> tuple[ApplicationStage, ...]:
    """A kind's stages, comma-separated: from accepted to connected, in the order of the stages, no repeats."""
    route = tuple(_stage(name) for name in text.split(",") if name.strip())
    if not route or route[0] != FIRST or route[-1] != LAST:
        raise ValueError(f"must start with {FIRST} and end with {LAST}")
    positions = [ORDER.index(stage) for stage in route]
    if positions != sorted(set(positions)):
        raise ValueError(f"stages must be in this order, each once: {_names(ORDER)}")
    return route


def parse_holidays(text: str) -> frozenset[date]:
    """Days off besides weekends, comma-separated ISO dates (2027-02-16,2027-02-17)."""
    found = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            found.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(found)


def add_working_days(start: datetime, days: int, tz: ZoneInfo, holidays: frozenset[date] = frozenset()) -> datetime:
    """`start` plus `days` working days, at the same local time (see the module's docstring)."""

    def working(day: date) -> bool:
        return day.weekday() not in WEEKEND and day not in holidays

    local = start.astimezone(tz)
    day, at = local.date(), local.time()
    while not working(day):  # begun on a day off: as if when the next working day starts
        day, at = day + timedelta(days=1), time(0)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        counted += working(day)
    return datetime.combine(day, at, tzinfo=tz).astimezone(start.tzinfo)


class StageSettings(Protocol):
    """The settings the rules are made from (core.config.Settings has them)."""

    application_stage_days: str
    application_holidays: str
    application_stages_new_connection: str
    application_stages_capacity_increase: str
    application_stages_capacity_decrease: str
    application_stages_ev_charger: str
    application_stages_rooftop_solar: str

    @property
    def tz(self) -> ZoneInfo: ...


@dataclass(frozen=True, slots=True)
class Move:
    """What moving an application to `to` is: an advance or a reopening, and the due time it gets."""

    kind: ApplicationEventKind
    to: ApplicationStage
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class StageRules:
    routes: Mapping[ApplicationKind, tuple[ApplicationStage, ...]]
    days: Mapping[ApplicationStage, int]
    tz: ZoneInfo
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: StageSettings) -> StageRules:
        routes = {kind: parse_route(getattr(settings, f"application_stages_{kind}")) for kind in ApplicationKind}
        return cls(
            routes=routes,
            days=parse_days(settings.application_stage_days),
            tz=settings.tz,
            holidays=parse_holidays(settings.application_holidays),
        )

    @classmethod
    def default(cls, tz: ZoneInfo) -> StageRules:
        """The rules of the settings' defaults (the demo data's, where no settings are at hand)."""
        routes = {kind: parse_route(text) for kind, text in DEFAULT_ROUTES.items()}
        return cls(routes=routes, days=parse_days(DEFAULT_DAYS), tz=tz)

    def route(self, kind: ApplicationKind) -> tuple[ApplicationStage, ...]:
        return self.routes[ApplicationKind(kind)]

    def next_stage(self, kind: ApplicationKind, stage: ApplicationStage) -> ApplicationStage | None:
        """The stage after `stage` on the kind's route (None at the last)."""
        later = [s for s in self.route(kind) if ORDER.index(s) > ORDER.index(stage)]
        return later[0] if later else None

    def step(self, kind: ApplicationKind, stage: ApplicationStage) -> tuple[int, int]:
        """Which step of how many `stage` is for the kind (1-based; a stage the route no longer has counts as
        the step before the next one it has)."""
        route = self.route(kind)
        done = sum(1 for s in route if ORDER.index(s) < ORDER.index(stage))
        return min(done + 1, len(route)), len(route)

    def due(self, stage: ApplicationStage, started_at: datetime) -> datetime | None:
        """When a stage begun at `started_at` is due (None: the last stage, or no time limit)."""
        days = self.days.get(ApplicationStage(stage), 0)
        if stage == LAST or days <= 0:
            return None
        return add_working_days(started_at, days, self.tz, self.holidays)

    def move(
        self, kind: ApplicationKind, current: ApplicationStage, target: ApplicationStage, note: str, at: datetime
    ) -> Move:
        """Moving an application of `kind` from `current` to `target` at `at`: forward is an advance (to any later
        stage of the kind's route: stages may be done on one visit), back a reopening, which needs a note.
        A stage the kind skips, or the stage it is at, is refused."""
        target = ApplicationStage(target)
        if target not in self.route(kind):
            raise InvalidInput(f"a {kind} application does not go through {target}", field="stage")
        if target == current:
            raise Conflict(f"the application is already at {target}")
        forward = ORDER.index(target) > ORDER.index(current)
        if not forward and not note.strip():
            raise InvalidInput("going back to an earlier stage needs a note saying why", field="note")
        event = ApplicationEventKind.ADVANCED if forward else ApplicationEventKind.REOPENED
        return Move(event, target, self.due(target, at))


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and due_at < now
