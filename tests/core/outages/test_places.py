"""The place a message names (core.outages.places): a district, narrowed to a feeder by a street on its lines."""

from __future__ import annotations

from core.outages.facts import AreaFacts, FeederFacts
from core.outages.places import place_by_key, place_in

AREAS = [AreaFacts("XH", "西湖区", "Xihu District"), AreaFacts("GS", "拱墅区", "Gongshu District")]
FEEDERS = [
    FeederFacts("XH-F01", "文三线", "10kV 文三线（文三路开闭所—学院路环网柜）", "XH"),
    FeederFacts("XH-F02", "古荡线", "10kV 古荡线（古荡变—天目山路环网柜）", "XH"),
    FeederFacts("GS-F01", "湖墅线", "10kV 湖墅线（湖墅变—莫干山路分支箱）", "GS"),
]


def test_a_district_by_its_name_in_either_language() -> None:
    for text in (
        "西湖区古墩路有停电吗",
        "西湖那边停电了吗",
        "is there an outage in Xihu district?",
        "power cut in xihu",
    ):
        place = place_in(text, AREAS, FEEDERS)
        assert place is not None and place.area.code == "XH" and place.feeder is None, text


def test_a_street_on_a_feeder_narrows_the_place_even_without_the_district() -> None:
    place = place_in("天目山路停电了吗", AREAS, FEEDERS)
    assert place is not None and (place.area.code, place.feeder and place.feeder.code) == ("XH", "XH-F02")
    assert place.street == "天目山路" and place.key == "XH/XH-F02"
    remembered = place_by_key(place.key, AREAS, FEEDERS)
    assert remembered is not None and (remembered.area, remembered.feeder) == (place.area, place.feeder)


def test_no_place_named() -> None:
    assert place_in("现在停电了吗", AREAS, FEEDERS) is None
    assert place_in("is there a power cut right now", AREAS, FEEDERS) is None
    assert place_by_key("ZZ", AREAS, FEEDERS) is None
