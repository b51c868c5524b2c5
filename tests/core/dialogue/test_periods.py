"""Periods as customers write them → calendar months, relative to the local date."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.dialogue.periods import MonthRange, find_period, normalise_period

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("我家这个月电费多少", "2026-11", "2026-11"),
        ("本月", "2026-11", "2026-11"),
        ("上个月用了几度电", "2026-10", "2026-10"),
        ("上個月", "2026-10", "2026-10"),
        ("上月", "2026-10", "2026-10"),
        ("上上个月", "2026-09", "2026-09"),
        ("下个月有检修停电吗", "2026-12", "2026-12"),
        ("2026年3月的电费", "2026-03", "2026-03"),
        ("去年十二月", "2025-12", "2025-12"),
        ("今年2月", "2026-02", "2026-02"),
        ("十月份用了多少", "2026-10", "2026-10"),
        ("12月", "2025-12", "2025-12"),  # December has not come yet this year: last year's
        ("11月", "2026-11", "2026-11"),
        ("2026-07", "2026-07", "2026-07"),
        ("近三个月", "2026-08", "2026-10"),
        ("最近半年", "2026-05", "2026-10"),
        ("前两个月", "2026-09", "2026-10"),
        ("今年", "2026-01", "2026-11"),
        ("去年", "2025-01", "2025-12"),
        ("this month", "2026-11", "2026-11"),
        ("How much did I use last month?", "2026-10", "2026-10"),
        ("the month before last", "2026-09", "2026-09"),
        ("next month", "2026-12", "2026-12"),
        ("over the last 3 months", "2026-08", "2026-10"),
        ("past six months", "2026-05", "2026-10"),
        ("this year", "2026-01", "2026-11"),
        ("last year", "2025-01", "2025-12"),
        ("my bill for October 2026", "2026-10", "2026-10"),
        ("in Sept", "2026-09", "2026-09"),
        ("december", "2025-12", "2025-12"),
        ("in May", "2026-05", "2026-05"),
        ("10/2026", "2026-10", "2026-10"),
    ],
)
def test_periods(text: str, first: str, last: str) -> None:
    assert find_period(text, TODAY) == MonthRange(first, last)


@pytest.mark.parametrize("text", ["我家电费多少", "may I pay by card", "why is my bill so high", "一个人住", "decide"])
def test_no_period(text: str) -> None:
    assert find_period(text, TODAY) is None


def test_the_entity_wins_and_the_text_is_the_fallback() -> None:
    assert normalise_period("上个月", "上个月和这个月", TODAY) == MonthRange("2026-10", "2026-10")
    assert normalise_period(None, "这个月", TODAY) == MonthRange("2026-11", "2026-11")
    assert normalise_period("garbage", "上上个月", TODAY) == MonthRange("2026-09", "2026-09")


def test_months_of_a_range_cross_the_year() -> None:
    assert MonthRange("2025-11", "2026-02").months() == ["2025-11", "2025-12", "2026-01", "2026-02"]


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31)), st.integers(min_value=1, max_value=12))
def test_a_month_named_without_a_year_is_never_in_the_future(today: date, month: int) -> None:
    found = find_period(f"{month}月", today)
    assert found is not None and found.single
    assert found.first <= f"{today.year:04d}-{today.month:02d}"
    assert int(found.first[5:]) == month


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31)))
def test_last_month_is_the_month_before(today: date) -> None:
    found = find_period("上个月", today)
    assert found is not None
    year, month = int(found.first[:4]), int(found.first[5:])
    assert (year * 12 + month) == (today.year * 12 + today.month) - 1


def test_a_month_without_a_year_asked_about_what_is_to_come_is_the_next_one() -> None:
    today = date(2026, 11, 23)
    assert find_period("12月份有停电计划吗", today, upcoming=True) == MonthRange.one(2026, 12)
    assert find_period("any outages planned for december?", today, upcoming=True) == MonthRange.one(2026, 12)
    assert find_period("3月有检修吗", today, upcoming=True) == MonthRange.one(2027, 3)
    assert find_period("11月", today, upcoming=True) == MonthRange.one(2026, 11)
    assert find_period("12月的电费", today) == MonthRange.one(2025, 12)  # a bill: the latest December
