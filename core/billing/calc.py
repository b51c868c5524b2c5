"""Bill arithmetic: pure functions over Decimal, no database, no IO.

A kWh costs its time-of-use base price (peak or valley) plus the surcharge of the monthly tier it falls
in. A bill is broken into lines:

- ``peak`` and ``valley``: every kWh at its base price (always present, even at 0 kWh);
- ``tier2``: the kWh between the tier-1 and tier-2 limits × the tier-2 surcharge;
- ``tier3``: the kWh above the tier-2 limit × the tier-3 surcharge.

A tier line is omitted when it has no kWh or its surcharge is zero (it would be a 0.00 line).

Each line's amount is rounded to 0.01 yuan (ROUND_HALF_UP) and the bill's amount is the sum of the rounded
lines, so a bill's lines always add up to its amount exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

LineKind = Literal["peak", "valley", "tier2", "tier3"]
LINE_KINDS: tuple[LineKind, ...] = ("peak", "valley", "tier2", "tier3")

CENT = Decimal("0.01")
ZERO = Decimal(0)


def round_money(value: Decimal) -> Decimal:
    """Round yuan to the cent, half up (0.005 -> 0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class TariffLike(Protocol):
    """What TariffTerms.from_tariff reads: a core.models.Tariff row, or anything shaped like one."""

    @property
    def tier1_limit_kwh(self) -> Decimal: ...
    @property
    def tier2_limit_kwh(self) -> Decimal: ...
    @property
    def tier2_surcharge(self) -> Decimal: ...
    @property
    def tier3_surcharge(self) -> Decimal: ...
    @property
    def peak_price(self) -> Decimal: ...
    @property
    def valley_price(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class TariffTerms:
    """The arithmetic of a tariff: monthly tier limits (kWh), surcharges and base prices (yuan per kWh)."""

    tier1_limit_kwh: Decimal
    tier2_limit_kwh: Decimal
    tier2_surcharge: Decimal
    tier3_surcharge: Decimal
    peak_price: Decimal
    valley_price: Decimal

    def __post_init__(self) -> None:
        for name in (
            "tier1_limit_kwh",
            "tier2_limit_kwh",
            "tier2_surcharge",
            "tier3_surcharge",
            "peak_price",
            "valley_price",
        ):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise TypeError(f"{name} must be a finite Decimal, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.tier2_limit_kwh < self.tier1_limit_kwh:
            raise ValueError("tier2_limit_kwh must not be below tier1_limit_kwh")

    @classmethod
    def from_tariff(cls, tariff: TariffLike) -> TariffTerms:
        """The terms of a Tariff row (or anything with the same attributes)."""
        return cls(
            tier1_limit_kwh=Decimal(tariff.tier1_limit_kwh),
            tier2_limit_kwh=Decimal(tariff.tier2_limit_kwh),
            tier2_surcharge=Decimal(tariff.tier2_surcharge),
            tier3_surcharge=Decimal(tariff.tier3_surcharge),
            peak_price=Decimal(tariff.peak_price),
            valley_price=Decimal(tariff.valley_price),
        )


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One line of a bill: kind, kWh, unit price (yuan/kWh) and amount (yuan, rounded to the cent)."""

    kind: LineKind
    kwh: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BillBreakdown:
    """The lines of a bill and their sum."""

    kwh_peak: Decimal
    kwh_valley: Decimal
    lines: tuple[LineSpec, ...]

    @property
    def kwh(self) -> Decimal:
        return self.kwh_peak + self.kwh_valley

    @property
    def amount(self) -> Decimal:
        return bill_total(self.lines)


@dataclass(frozen=True, slots=True)
class TierSplit:
    """How a month's total kWh falls into the three tiers; the three parts add up to the total."""

    tier1_kwh: Decimal
    tier2_kwh: Decimal
    tier3_kwh: Decimal

    @property
    def total(self) -> Decimal:
        return self.tier1_kwh + self.tier2_kwh + self.tier3_kwh


def _check_kwh(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative")


def split_tiers(terms: TariffTerms, kwh: Decimal) -> TierSplit:
    """Partition a month's kWh into tier 1 (up to the tier-1 limit), tier 2 (up to tier-2) and tier 3."""
    _check_kwh("kwh", kwh)
    tier1 = min(kwh, terms.tier1_limit_kwh)
    tier2 = min(kwh, terms.tier2_limit_kwh) - tier1
    tier3 = kwh - tier1 - tier2
    return TierSplit(tier1_kwh=tier1, tier2_kwh=tier2, tier3_kwh=tier3)


def _line(kind: LineKind, kwh: Decimal, unit_price: Decimal) -> LineSpec:
    return LineSpec(kind=kind, kwh=kwh, unit_price=unit_price, amount=round_money(kwh * unit_price))


def compute_bill_lines(terms: TariffTerms, kwh_peak: Decimal, kwh_valley: Decimal) -> list[LineSpec]:
    """The lines of a month's bill, in order peak, valley, tier2, tier3 (empty tier lines omitted)."""
    _check_kwh("kwh_peak", kwh_peak)
    _check_kwh("kwh_valley", kwh_valley)
    lines = [
        _line("peak", kwh_peak, terms.peak_price),
        _line("valley", kwh_valley, terms.valley_price),
    ]
    tiers = split_tiers(terms, kwh_peak + kwh_valley)
    if tiers.tier2_kwh > 0 and terms.tier2_surcharge > 0:
        lines.append(_line("tier2", tiers.tier2_kwh, terms.tier2_surcharge))
    if tiers.tier3_kwh > 0 and terms.tier3_surcharge > 0:
        lines.append(_line("tier3", tiers.tier3_kwh, terms.tier3_surcharge))
    return lines


def compute_bill(terms: TariffTerms, kwh_peak: Decimal, kwh_valley: Decimal) -> BillBreakdown:
    """compute_bill_lines with the kWh and the amount alongside."""
    lines = compute_bill_lines(terms, kwh_peak, kwh_valley)
    return BillBreakdown(kwh_peak=kwh_peak, kwh_valley=kwh_valley, lines=tuple(lines))


def bill_total(lines: Iterable[LineSpec]) -> Decimal:
    """A bill's amount: the sum of its (already rounded) lines."""
    return sum((line.amount for line in lines), start=ZERO).quantize(CENT)
