"""Where a customer's message is about: a district named in it ("西湖区", "Xihu"), narrowed to a feeder when
a street on that feeder's lines is named too ("西湖区天目山路有停电吗"). Lets a customer who has not bound an
account ask about outages at an address they type. Pure matching over the areas and feeders the caller
loaded (OutageRepository.places)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.outages.facts import AreaFacts, FeederFacts, OutageFacts

_STREET = re.compile(r"[\u4e00-\u9fff]{1,8}?(?:大道|路|街|巷)")
_DISTRICT_SUFFIX = re.compile(r"(?:区|區|县|縣|市)$")
EN_SUFFIX = re.compile(r"\s+(?:district|county|city)$", re.IGNORECASE)  # "Xihu District" → "Xihu"


@dataclass(frozen=True, slots=True)
class Place:
    area: AreaFacts
    feeder: FeederFacts | None = None  # the feeder whose lines name the street asked about
    street: str | None = None  # the street named, as found on the feeder's lines

    def named(self, language: str) -> str:
        return self.area.named(language)

    @property
    def key(self) -> str:
        """ "AREA" or "AREA/FEEDER", as the dialogue state remembers it (place_by_key reads it back)."""
        return f"{self.area.code}/{self.feeder.code}" if self.feeder is not None else self.area.code

    def covers(self, outage: OutageFacts) -> bool:
        if self.feeder is not None:
            return outage.touches_feeder(self.feeder.code)
        return any(area.code == self.area.code for area in outage.areas)


def _area_names(area: AreaFacts) -> list[str]:
    names = [area.name, _DISTRICT_SUFFIX.sub("", area.name), area.name_en, EN_SUFFIX.sub("", area.name_en)]
    return [n for n in names if len(n) >= 2]


def _mentions(text: str, name: str) -> bool:
    if name.isascii():
        return re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE) is not None
    return name in text


def _streets(text: str) -> set[str]:
    """Every street-like ending ("古墩路", "天目山路") in the text, from each possible start."""
    found: set[str] = set()
    for start in range(len(text)):
        match = _STREET.match(text, start)
        if match and len(match.group()) >= 3:
            found.add(match.group())
    return found


def place_in(text: str, areas: Sequence[AreaFacts], feeders: Sequence[FeederFacts]) -> Place | None:
    """The district the text names (the longest name wins), narrowed to a feeder when a street of one of its
    feeders' lines is named; a street alone also finds its feeder's district. None when no place is named."""
    best: tuple[int, AreaFacts] | None = None
    for area in areas:
        for name in _area_names(area):
            if _mentions(text, name) and (best is None or len(name) > best[0]):
                best = (len(name), area)
    streets = sorted(_streets(text), key=len, reverse=True)
    candidates = [f for f in feeders if best is None or f.area_code == best[1].code]
    found = next(((f, s) for s in streets for f in candidates if s in f.lines), None)
    feeder, street = found if found is not None else (None, None)
    if best is None and feeder is None:
        return None
    found_area = (
        best[1] if best is not None else next((a for a in areas if feeder and a.code == feeder.area_code), None)
    )
    return Place(found_area, feeder, street) if found_area is not None else None


def place_by_key(key: str, areas: Sequence[AreaFacts], feeders: Sequence[FeederFacts]) -> Place | None:
    area_code, _, feeder_code = key.partition("/")
    area = next((a for a in areas if a.code == area_code), None)
    feeder = next((f for f in feeders if f.code == feeder_code), None) if feeder_code else None
    return Place(area, feeder) if area is not None else None
