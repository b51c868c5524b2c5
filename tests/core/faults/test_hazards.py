from __future__ import annotations

import pytest

from core.faults.hazards import hazards_in, is_generic_request, mentions_home


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("门口电线掉地上了", ("fallen_line",)),
        ("電線斷了", ("fallen_line",)),
        ("a power line fell down outside my house", ("fallen_line",)),
        ("there is a downed wire on the road", ("fallen_line",)),
        ("电表箱冒烟了还有火花", ("smoke", "sparks")),
        ("插座起火了", ("fire",)),
        ("smoke and sparks from the meter box", ("smoke", "sparks")),
        ("有人触电了", ("shock",)),
        ("变压器爆炸了", ("explosion",)),
        ("总闸一推就跳", ()),
        ("整栋楼没电了", ()),
        ("宽带掉线了", ()),
        ("my bill is on fire lol", ("fire",)),  # errs on the side of safety
    ],
)
def test_hazards(text: str, kinds: tuple[str, ...]) -> None:
    assert hazards_in(text) == kinds


def test_home_and_generic_requests() -> None:
    assert mentions_home("门口电线掉地上了") and mentions_home("总闸一推就跳") and mentions_home("outside my house")
    assert not mentions_home("文三路路口的电线杆倒了")
    assert (
        is_generic_request("我要报修")
        and is_generic_request("报修！")
        and is_generic_request("I want to report a fault")
    )
    assert not is_generic_request("报修：总闸跳了") and not is_generic_request("the whole street has no power")
