from __future__ import annotations

from nlu.normalize import as_typed, normalize, positions


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


def test_positions_follow_each_normalised_character_back_to_the_text_as_typed() -> None:
    for typed in ("幫我查上個月電費", "户号３３０１２３４５６７ ＡＢＣ", "  电费\t\n 多少  ", "上个月", "", "   "):
        normalized, where = normalize(typed).text, positions(typed)
        assert where is not None and len(where) == len(normalized), typed
        for index, char in zip(where, normalized, strict=True):
            assert normalize(typed[index]).text in (char, "") or typed[index].isspace(), (typed, index, char)


def test_a_parse_is_told_in_the_text_as_typed() -> None:
    typed = "  幫我查 上個月  電費"
    normalized = normalize(typed).text
    assert normalized == "帮我查 上个月 电费"
    start = normalized.index("上个月")
    parsed = {
        "text": normalized,
        "intent": {"name": "bill_amount", "confidence": 0.9},
        "entities": [{"entity": "period", "value": "上个月", "start": start, "end": start + 3}],
    }
    told = as_typed(parsed, typed)
    assert told["text"] == typed and told["intent"] == parsed["intent"]
    [entity] = told["entities"]
    assert typed[entity["start"] : entity["end"]] == "上個月" and entity["value"] == "上个月"


def test_a_normalisation_that_cannot_be_followed_leaves_the_parse_as_it_is() -> None:
    typed = "cafe\u0301"  # e + a combining accent: NFKC makes one character of two
    assert positions(typed) is None
    parsed = {"text": normalize(typed).text, "intent": {"name": "out_of_scope", "confidence": 0.9}, "entities": []}
    assert as_typed(parsed, typed) == parsed
