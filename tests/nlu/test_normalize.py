from __future__ import annotations

from nlu.normalize import normalize


def test_traditional_becomes_simplified() -> None:
    assert normalize("我的戶號是3301234567，幫我綁定").text.startswith("我的户号是3301234567")


def test_full_width_digits_and_letters_become_half_width() -> None:
    assert normalize("户号３３０１２３４５６７ ＡＢＣ").text == "户号3301234567 ABC"


def test_whitespace_is_folded_and_trimmed() -> None:
    assert normalize("  电费\t\n 多少  ").text == "电费 多少"


def test_long_text_is_cut_and_the_cut_recorded() -> None:
    result = normalize("停" * 600, max_chars=500)
    assert len(result.text) == 500
    assert result.truncated
    assert not normalize("停电了", max_chars=500).truncated
