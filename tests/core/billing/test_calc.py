"""core.billing.calc: bill lines from a tiered peak/valley tariff (pure, no database)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.billing.calc import (
    LineSpec,
    TariffTerms,
    bill_total,
    compute_bill,
    compute_bill_lines,
    round_money,
    split_tiers,
)

D = Decimal
RESIDENTIAL = TariffTerms(
    tier1_limit_kwh=D("230"),
    tier2_limit_kwh=D("400"),
    tier2_surcharge=D("0.05"),
    tier3_surcharge=D("0.30"),
    peak_price=D("0.568"),
    valley_price=D("0.288"),
)


def by_kind(lines: list[LineSpec]) -> dict[str, LineSpec]:
    return {line.kind: line for line in lines}


def test_within_tier1_only_peak_and_valley_lines() -> None:
    lines = compute_bill_lines(RESIDENTIAL, D("120"), D("80"))
    assert [line.kind for line in lines] == ["peak", "valley"]
    assert lines[0] == LineSpec("peak", D("120"), D("0.568"), D("68.16"))
    assert lines[1] == LineSpec("valley", D("80"), D("0.288"), D("23.04"))
    assert bill_total(lines) == D("91.20")


def test_tier2_surcharge_on_kwh_above_tier1() -> None:
    lines = by_kind(compute_bill_lines(RESIDENTIAL, D("180"), D("120")))  # 300 kWh
    assert set(lines) == {"peak", "valley", "tier2"}
    assert lines["tier2"].kwh == D("70")
    assert lines["tier2"].unit_price == D("0.05")
    assert lines["tier2"].amount == D("3.50")
    assert bill_total(lines.values()) == D("102.24") + D("34.56") + D("3.50")


def test_tier3_surcharge_on_kwh_above_tier2() -> None:
    lines = by_kind(compute_bill_lines(RESIDENTIAL, D("300"), D("200")))  # 500 kWh
    assert lines["tier2"].kwh == D("170")
    assert lines["tier2"].amount == D("8.50")
    assert lines["tier3"].kwh == D("100")
    assert lines["tier3"].amount == D("30.00")
    assert [line.kind for line in compute_bill_lines(RESIDENTIAL, D("300"), D("200"))] == [
        "peak",
        "valley",
        "tier2",
        "tier3",
    ]


def test_exactly_at_the_limits_has_no_tier_above() -> None:
    assert [line.kind for line in compute_bill_lines(RESIDENTIAL, D("230"), D("0"))] == ["peak", "valley"]
    kinds = [line.kind for line in compute_bill_lines(RESIDENTIAL, D("200"), D("200"))]
    assert kinds == ["peak", "valley", "tier2"]


def test_each_line_rounds_half_up_and_the_total_is_their_sum() -> None:
    terms = TariffTerms(
        tier1_limit_kwh=D("0"),
        tier2_limit_kwh=D("1000"),
        tier2_surcharge=D("0.0005"),
        tier3_surcharge=D("0"),
        peak_price=D("0.0125"),
        valley_price=D("0.0135"),
    )
    lines = by_kind(compute_bill_lines(terms, D("1"), D("1")))
    assert lines["peak"].amount == D("0.01")  # 0.0125 -> 0.01
    assert lines["valley"].amount == D("0.01")  # 0.0135 -> 0.01
    assert lines["tier2"].amount == D("0.00")  # 2 × 0.0005 = 0.001
    assert compute_bill(terms, D("1"), D("1")).amount == D("0.02")
    assert round_money(D("0.005")) == D("0.01")
    assert round_money(D("2.675")) == D("2.68")


def test_zero_kwh_is_a_zero_bill_with_two_lines() -> None:
    breakdown = compute_bill(RESIDENTIAL, D("0"), D("0"))
    assert [line.kind for line in breakdown.lines] == ["peak", "valley"]
    assert breakdown.amount == D("0.00")
    assert breakdown.kwh == D("0")


def test_untiered_tariff_has_no_tier_lines() -> None:
    flat = TariffTerms(
        tier1_limit_kwh=D("0"),
        tier2_limit_kwh=D("0"),
        tier2_surcharge=D("0"),
        tier3_surcharge=D("0"),
        peak_price=D("0.9132"),
        valley_price=D("0.3805"),
    )
    lines = compute_bill_lines(flat, D("658910"), D("403000"))
    assert [line.kind for line in lines] == ["peak", "valley"]
    assert bill_total(lines) == round_money(D("658910") * D("0.9132")) + round_money(D("403000") * D("0.3805"))


def test_rejects_negative_or_non_decimal_kwh() -> None:
    with pytest.raises(ValueError):
        compute_bill_lines(RESIDENTIAL, D("-1"), D("0"))
    with pytest.raises(TypeError):
        compute_bill_lines(RESIDENTIAL, 10.5, D("0"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compute_bill_lines(RESIDENTIAL, D("NaN"), D("0"))


def test_terms_are_validated() -> None:
    with pytest.raises(ValueError, match="tier2_limit_kwh"):
        TariffTerms(D("400"), D("230"), D("0.05"), D("0.3"), D("0.5"), D("0.3"))
    with pytest.raises(ValueError, match="peak_price"):
        TariffTerms(D("230"), D("400"), D("0.05"), D("0.3"), D("-0.5"), D("0.3"))


def test_terms_from_a_tariff_row() -> None:
    from core.models import Tariff

    row = Tariff(
        code="T",
        name="t",
        tier1_limit_kwh=D("230.0"),
        tier2_limit_kwh=D("400.0"),
        tier2_surcharge=D("0.0500"),
        tier3_surcharge=D("0.3000"),
        peak_price=D("0.5680"),
        valley_price=D("0.2880"),
        peak_starts=time(8),
        valley_starts=time(22),
    )
    assert TariffTerms.from_tariff(row) == RESIDENTIAL


def test_terms_from_anything_shaped_like_a_tariff() -> None:
    row = SimpleNamespace(
        tier1_limit_kwh=D("1"),
        tier2_limit_kwh=D("2"),
        tier2_surcharge=D("0.1"),
        tier3_surcharge=D("0.2"),
        peak_price=D("0.5"),
        valley_price=D("0.25"),
    )
    terms = TariffTerms.from_tariff(row)
    assert terms.tier2_limit_kwh == D("2")


# ------------------------------------------------------------------------------------------ properties

kwh = st.decimals(min_value=0, max_value=100_000, places=1, allow_nan=False, allow_infinity=False)
price = st.decimals(min_value=0, max_value=5, places=4, allow_nan=False, allow_infinity=False)
limit = st.decimals(min_value=0, max_value=2_000, places=1, allow_nan=False, allow_infinity=False)


@st.composite
def tariffs(draw: st.DrawFn) -> TariffTerms:
    a, b = sorted((draw(limit), draw(limit)))
    return TariffTerms(a, b, draw(price), draw(price), draw(price), draw(price))


@given(tariffs(), kwh, kwh)
def test_lines_add_up_to_the_total(terms: TariffTerms, peak: Decimal, valley: Decimal) -> None:
    breakdown = compute_bill(terms, peak, valley)
    assert breakdown.amount == sum((line.amount for line in breakdown.lines), D(0))
    assert all(line.amount == round_money(line.amount) for line in breakdown.lines)
    assert all(line.amount == round_money(line.kwh * line.unit_price) for line in breakdown.lines)
    assert breakdown.amount.as_tuple().exponent == -2


@given(tariffs(), kwh, kwh)
def test_tier_kwh_partition_the_total(terms: TariffTerms, peak: Decimal, valley: Decimal) -> None:
    total = peak + valley
    tiers = split_tiers(terms, total)
    assert tiers.total == total
    assert min(tiers.tier1_kwh, tiers.tier2_kwh, tiers.tier3_kwh) >= 0
    assert tiers.tier1_kwh <= terms.tier1_limit_kwh
    assert tiers.tier2_kwh <= terms.tier2_limit_kwh - terms.tier1_limit_kwh
    lines = by_kind(compute_bill_lines(terms, peak, valley))
    assert lines["peak"].kwh + lines["valley"].kwh == total
    assert lines.get("tier2", LineSpec("tier2", D(0), D(0), D(0))).kwh in (D(0), tiers.tier2_kwh)
    if tiers.tier3_kwh > 0 and terms.tier3_surcharge > 0:
        assert lines["tier3"].kwh == tiers.tier3_kwh
    if "tier3" in lines:
        assert tiers.tier2_kwh == terms.tier2_limit_kwh - terms.tier1_limit_kwh


@given(tariffs(), kwh, kwh, kwh, kwh)
def test_more_kwh_never_costs_less(
    terms: TariffTerms, peak: Decimal, valley: Decimal, more_peak: Decimal, more_valley: Decimal
) -> None:
    base = compute_bill(terms, peak, valley).amount
    assert compute_bill(terms, peak + more_peak, valley).amount >= base
    assert compute_bill(terms, peak, valley + more_valley).amount >= base
    assert compute_bill(terms, peak + more_peak, valley + more_valley).amount >= base
