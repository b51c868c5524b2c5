"""Bill answers from stored bills: the reasons a bill changed, amounts due, the usage trend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from core.billing.answers import amount_due, change_reasons, explain, facts, plain, usage_trend
from core.billing.calc import TariffTerms, compute_bill

TERMS = TariffTerms(
    tier1_limit_kwh=Decimal(230),
    tier2_limit_kwh=Decimal(400),
    tier2_surcharge=Decimal("0.05"),
    tier3_surcharge=Decimal("0.30"),
    peak_price=Decimal("0.568"),
    valley_price=Decimal("0.288"),
)


@dataclass
class FakeBill:
    period: str
    days: int
    kwh_peak: Decimal
    kwh_valley: Decimal
    due_date: date = date(2026, 11, 17)
    paid_at: datetime | None = None
    lines: list = field(default_factory=list)  # type: ignore[type-arg]
    amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        breakdown = compute_bill(TERMS, self.kwh_peak, self.kwh_valley)
        self.lines = list(breakdown.lines)
        self.amount = breakdown.amount

    @property
    def kwh(self) -> Decimal:
        return self.kwh_peak + self.kwh_valley


def test_a_higher_bill_gives_its_reasons_first() -> None:
    before = FakeBill("2026-09", 30, Decimal(130), Decimal(90))  # 220 kWh: all tier 1
    after = FakeBill("2026-10", 31, Decimal(300), Decimal(150))  # 450 kWh: into tier 3, more peak
    x = explain(after, before, TERMS)
    assert [r.kind for r in x.reasons] == ["more_kwh", "higher_tier", "more_days", "more_peak"]
    assert x.amount_delta == after.amount - before.amount > 0
    assert (x.tiers.tier1_kwh, x.tiers.tier2_kwh, x.tiers.tier3_kwh) == (Decimal(230), Decimal(170), Decimal(50))
    assert x.bill.lines_total == x.bill.amount  # the lines add up to the bill
    assert x.kwh_percent == Decimal(105)


def test_a_lower_bill_lists_what_lowered_it_first() -> None:
    before = FakeBill("2026-08", 31, Decimal(300), Decimal(150))
    after = FakeBill("2026-09", 30, Decimal(120), Decimal(100))
    kinds = [r.kind for r in change_reasons(facts(after), facts(before))]
    assert kinds[:3] == ["less_kwh", "lower_tier", "fewer_days"]


def test_no_previous_bill_no_reasons() -> None:
    x = explain(FakeBill("2026-10", 31, Decimal(100), Decimal(50)), None, TERMS)
    assert x.previous is None and x.reasons == () and x.amount_delta is None


def test_amount_due_and_arrears() -> None:
    old = FakeBill("2026-09", 30, Decimal(100), Decimal(50), due_date=date(2026, 10, 16))
    new = FakeBill("2026-10", 31, Decimal(100), Decimal(60), due_date=date(2026, 11, 30))
    paid = FakeBill("2026-08", 31, Decimal(100), Decimal(60), paid_at=datetime(2026, 9, 5, tzinfo=UTC))
    due = amount_due(new, [old, new], today=date(2026, 11, 23))
    assert due.total_due == old.amount + new.amount
    assert due.arrears == old.amount and [b.period for b in due.overdue] == ["2026-09"]
    assert due.next_due_date == date(2026, 11, 30)
    assert amount_due(paid, [], today=date(2026, 11, 23)).total_due == 0


def test_usage_trend_bars_scale_to_the_top_month() -> None:
    bills = [FakeBill(f"2026-0{m}", 30, Decimal(50 * m), Decimal(0)) for m in range(1, 5)]
    trend = usage_trend(bills[::-1], width=8)
    assert [p.period for p in trend.points] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [p.bar for p in trend.points] == [2, 4, 6, 8]
    assert trend.total == Decimal(500) and trend.average == Decimal("125.0")


def test_plain_numbers() -> None:
    assert str(plain(Decimal("0.5680"))) == "0.568"
    assert str(plain(Decimal("230.0"))) == "230"
    assert str(plain(Decimal("400"))) == "400"
