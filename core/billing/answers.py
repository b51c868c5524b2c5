"""What a customer is told about their bills, computed from the stored bills (pure: no database, no IO).

The figures are the stored ones (bill amounts, line amounts, kWh); nothing is re-priced here, so what the
customer reads always matches the bill. `explain` sets a bill against the previous one and says why it
changed: more (or fewer) kWh, kWh in a higher tier, more days, a larger share at the peak price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal, Protocol

from core.billing import calc
from core.billing.calc import TariffTerms, TierSplit, split_tiers

ZERO = Decimal(0)
TIER_KINDS = ("tier2", "tier3")
PEAK_SHARE_POINTS = Decimal(3)  # a change in peak share below this many percentage points is not a reason


class LineLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def kwh(self) -> Decimal: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def amount(self) -> Decimal: ...


class BillLike(Protocol):
    """A core.models.Bill (with its lines loaded), or anything shaped like one."""

    @property
    def period(self) -> str: ...
    @property
    def days(self) -> int: ...
    @property
    def kwh(self) -> Decimal: ...
    @property
    def kwh_peak(self) -> Decimal: ...
    @property
    def kwh_valley(self) -> Decimal: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def due_date(self) -> date: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def lines(self) -> Sequence[LineLike]: ...


def plain(value: Decimal) -> Decimal:
    """A Decimal without trailing zeros and never in exponent form (0.5680 → 0.568, 230.0 → 230)."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return normalized.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normalized


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # peak | valley | tier2 | tier3
    kwh: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BillFacts:
    period: str
    days: int
    kwh: Decimal
    kwh_peak: Decimal
    kwh_valley: Decimal
    amount: Decimal
    due_date: date
    paid: bool
    lines: tuple[Line, ...]

    @property
    def tier_surcharge(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind in TIER_KINDS), start=ZERO)

    @property
    def lines_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), start=ZERO)

    @property
    def daily_kwh(self) -> Decimal:
        return (self.kwh / self.days).quantize(Decimal("0.1")) if self.days else ZERO

    @property
    def peak_share(self) -> Decimal:
        """Percent of the kWh used at the peak price."""
        return (self.kwh_peak * 100 / self.kwh).quantize(Decimal("0.1")) if self.kwh else ZERO


def facts(bill: BillLike) -> BillFacts:
    return BillFacts(
        period=bill.period,
        days=bill.days,
        kwh=Decimal(bill.kwh),
        kwh_peak=Decimal(bill.kwh_peak),
        kwh_valley=Decimal(bill.kwh_valley),
        amount=Decimal(bill.amount),
        due_date=bill.due_date,
        paid=bill.paid_at is not None,
        lines=tuple(
            Line(kind=line.kind, kwh=Decimal(line.kwh), unit_price=plain(Decimal(line.unit_price)), amount=line.amount)
            for line in bill.lines
        ),
    )


@dataclass(frozen=True, slots=True)
class AmountDue:
    """The latest bill, the bills still to pay, and which of them are overdue (arrears)."""

    latest: BillFacts
    unpaid: tuple[BillFacts, ...]
    overdue: tuple[BillFacts, ...]

    @property
    def total_due(self) -> Decimal:
        return sum((bill.amount for bill in self.unpaid), start=ZERO)

    @property
    def arrears(self) -> Decimal:
        return sum((bill.amount for bill in self.overdue), start=ZERO)

    @property
    def next_due_date(self) -> date | None:
        pending = [bill.due_date for bill in self.unpaid if bill not in self.overdue]
        return min(pending) if pending else None


def amount_due(latest: BillLike, unpaid: Sequence[BillLike], today: date) -> AmountDue:
    unpaid_facts = tuple(facts(bill) for bill in unpaid)
    return AmountDue(
        latest=facts(latest),
        unpaid=unpaid_facts,
        overdue=tuple(bill for bill in unpaid_facts if bill.due_date < today),
    )


ReasonKind = Literal["more_kwh", "less_kwh", "higher_tier", "lower_tier", "more_days", "fewer_days", "more_peak"]


@dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    before: Decimal
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    @property
    def magnitude(self) -> Decimal:
        return abs(self.delta)


@dataclass(frozen=True, slots=True)
class Explanation:
    bill: BillFacts
    previous: BillFacts | None
    tiers: TierSplit
    terms: TariffTerms
    reasons: tuple[Reason, ...]

    @property
    def amount_delta(self) -> Decimal | None:
        return None if self.previous is None else self.bill.amount - self.previous.amount

    @property
    def kwh_delta(self) -> Decimal | None:
        return None if self.previous is None else self.bill.kwh - self.previous.kwh

    @property
    def kwh_percent(self) -> Decimal | None:
        if self.previous is None or not self.previous.kwh:
            return None
        return ((self.bill.kwh - self.previous.kwh) * 100 / self.previous.kwh).quantize(Decimal(1))

    @property
    def tiered(self) -> bool:
        """Whether the tariff has tier surcharges at all (a flat commercial tariff has none)."""
        return self.terms.tier2_surcharge > 0 or self.terms.tier3_surcharge > 0


def change_reasons(bill: BillFacts, previous: BillFacts) -> tuple[Reason, ...]:
    """Why `bill` differs from `previous`, in the direction the amount moved first."""
    reasons: list[Reason] = []
    if bill.kwh != previous.kwh:
        reasons.append(Reason("more_kwh" if bill.kwh > previous.kwh else "less_kwh", previous.kwh, bill.kwh))
    if bill.tier_surcharge != previous.tier_surcharge:
        kind: ReasonKind = "higher_tier" if bill.tier_surcharge > previous.tier_surcharge else "lower_tier"
        reasons.append(Reason(kind, previous.tier_surcharge, bill.tier_surcharge))
    if bill.days != previous.days:
        reasons.append(
            Reason(
                "more_days" if bill.days > previous.days else "fewer_days", Decimal(previous.days), Decimal(bill.days)
            )
        )
    if bill.peak_share - previous.peak_share >= PEAK_SHARE_POINTS:
        reasons.append(Reason("more_peak", previous.peak_share, bill.peak_share))
    up = bill.amount >= previous.amount
    raising = {"more_kwh", "higher_tier", "more_days", "more_peak"}
    # reasons that pushed the amount the way it went come first
    return tuple(sorted(reasons, key=lambda r: (r.kind in raising) != up))


def explain(bill: BillLike, previous: BillLike | None, terms: TariffTerms) -> Explanation:
    current = facts(bill)
    before = facts(previous) if previous is not None else None
    return Explanation(
        bill=current,
        previous=before,
        tiers=split_tiers(terms, current.kwh),
        terms=terms,
        reasons=change_reasons(current, before) if before is not None else (),
    )


@dataclass(frozen=True, slots=True)
class UsagePoint:
    period: str
    kwh: Decimal
    bar: int  # 0..width, for a small text chart


@dataclass(frozen=True, slots=True)
class UsageTrend:
    points: tuple[UsagePoint, ...]

    @property
    def total(self) -> Decimal:
        return sum((p.kwh for p in self.points), start=ZERO)

    @property
    def average(self) -> Decimal:
        return (self.total / len(self.points)).quantize(Decimal("0.1")) if self.points else ZERO

    @property
    def peak(self) -> UsagePoint | None:
        return max(self.points, key=lambda p: p.kwh) if self.points else None


def usage_trend(bills: Sequence[BillLike], width: int = 10) -> UsageTrend:
    """kWh per month (oldest first) with bars scaled to the largest month."""
    ordered = sorted(bills, key=lambda b: b.period)
    top = max((Decimal(b.kwh) for b in ordered), default=ZERO)
    points = tuple(
        UsagePoint(
            period=b.period,
            kwh=Decimal(b.kwh),
            bar=int((Decimal(b.kwh) * width / top).to_integral_value()) if top else 0,
        )
        for b in ordered
    )
    return UsageTrend(points)


class TariffLike(calc.TariffLike, Protocol):
    """A tariff row as the customer reads about it: its arithmetic, name and peak/valley hours."""

    @property
    def name(self) -> str: ...
    @property
    def peak_starts(self) -> time: ...
    @property
    def valley_starts(self) -> time: ...


@dataclass(frozen=True, slots=True)
class TariffFacts:
    """A tariff as the customer reads it: prices without trailing zeros, hours as HH:MM."""

    name: str
    tier1_limit: Decimal
    tier2_limit: Decimal
    tier2_surcharge: Decimal
    tier3_surcharge: Decimal
    peak_price: Decimal
    valley_price: Decimal
    peak_starts: str
    valley_starts: str

    @property
    def tiered(self) -> bool:
        return self.tier2_surcharge > 0 or self.tier3_surcharge > 0


def tariff_facts(tariff: TariffLike) -> TariffFacts:
    return TariffFacts(
        name=tariff.name,
        tier1_limit=plain(Decimal(tariff.tier1_limit_kwh)),
        tier2_limit=plain(Decimal(tariff.tier2_limit_kwh)),
        tier2_surcharge=plain(Decimal(tariff.tier2_surcharge)),
        tier3_surcharge=plain(Decimal(tariff.tier3_surcharge)),
        peak_price=plain(Decimal(tariff.peak_price)),
        valley_price=plain(Decimal(tariff.valley_price)),
        peak_starts=tariff.peak_starts.strftime("%H:%M"),
        valley_starts=tariff.valley_starts.strftime("%H:%M"),
    )
