"""What gridtalk says about an outage, wherever it says it: the chat's answers, the notices, the previews.

One rule for the places an outage names (so the chat and the notice a customer got never disagree):
- areas: those named, the areas of the feeders named, the areas of the accounts named;
- feeders: those named, every feeder of an area named, the feeders of the accounts named.
The times: a planned outage from its start to its end; an unplanned one from its start to the estimated
restoration (its end is an estimate until it is restored).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core.models.enums import Language, OutageKind, OutageStatus


@dataclass(frozen=True, slots=True)
class Scope:
    """What an outage affects as staff entered it: whole areas, feeders, and named accounts (by id)."""

    area_codes: tuple[str, ...] = ()
    feeder_codes: tuple[str, ...] = ()
    account_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, areas: tuple[str, ...], feeders: tuple[str, ...], account_ids: tuple[int, ...]) -> Scope:
        return cls(tuple(sorted(set(areas))), tuple(sorted(set(feeders))), tuple(sorted(set(account_ids))))

    @property
    def public(self) -> bool:
        """An outage of named accounts only (a key account's own line) is nobody else's business."""
        return bool(self.area_codes or self.feeder_codes)

    @property
    def empty(self) -> bool:
        return not (self.area_codes or self.feeder_codes or self.account_ids)


@dataclass(frozen=True, slots=True)
class AreaFacts:
    code: str
    name: str
    name_en: str

    def named(self, language: str) -> str:
        return (self.name_en or self.name) if language == Language.EN else self.name


@dataclass(frozen=True, slots=True)
class FeederFacts:
    code: str
    name: str
    lines: str
    area_code: str = ""


@dataclass(frozen=True, slots=True)
class Places:
    """Every district and feeder, in code order, and looked up by code (the feeders also by district): read
    once and kept (core.outages.places_cache), so an outage's facts take what they name without a scan."""

    areas: tuple[AreaFacts, ...]
    feeders: tuple[FeederFacts, ...]
    area: dict[str, AreaFacts]
    feeder: dict[str, FeederFacts]
    in_area: dict[str, tuple[FeederFacts, ...]]

    @classmethod
    def of(cls, areas: Iterable[AreaFacts], feeders: Iterable[FeederFacts]) -> Places:
        areas, feeders = tuple(areas), tuple(feeders)
        in_area: dict[str, list[FeederFacts]] = {}
        for f in feeders:
            in_area.setdefault(f.area_code, []).append(f)
        return cls(
            areas,
            feeders,
            {a.code: a for a in areas},
            {f.code: f for f in feeders},
            {code: tuple(found) for code, found in in_area.items()},
        )

    def knows(self, areas: Iterable[str], feeders: Iterable[str]) -> bool:
        """Whether every one of these district and feeder codes is here."""
        return all(code in self.area for code in areas) and all(code in self.feeder for code in feeders)


@dataclass(frozen=True, slots=True)
class OutageFacts:
    id: int
    kind: OutageKind
    status: OutageStatus
    starts_at: datetime
    ends_at: datetime
    reason: str
    contact: str
    areas: tuple[AreaFacts, ...]
    feeders: tuple[FeederFacts, ...]
    estimated_restoration_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    changed_at: datetime | None = None  # when staff last changed it (or published it)

    @property
    def restoration(self) -> datetime:
        """When power is expected back: the estimate of a fault, the end of a planned outage."""
        return self.estimated_restoration_at or self.ends_at

    @property
    def duration_minutes(self) -> int:
        return max(0, int((self.restoration - self.starts_at).total_seconds() // 60))

    def touches_feeder(self, feeder_code: str) -> bool:
        return any(f.code == feeder_code for f in self.feeders)

    def feeders_in_area(self, area_code: str) -> tuple[FeederFacts, ...]:
        return tuple(f for f in self.feeders if f.area_code == area_code)

    def context(self, language: str) -> dict[str, object]:
        """The template context of the outage (templates/notices/_details, templates/dialogue/_outage)."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "status": str(self.status),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "restoration": self.restoration,
            "reason": self.reason,
            "contact": self.contact,
            "areas": [a.named(language) for a in self.areas],
            "feeders": [{"code": f.code, "name": f.name, "lines": f.lines} for f in self.feeders],
            "duration_minutes": self.duration_minutes,
            "completed_at": self.completed_at,
        }
