"""Billing: balance, bills, usage and tariffs. Answers come from data, never invented."""

from core.billing.calc import (
    LINE_KINDS,
    BillBreakdown,
    LineKind,
    LineSpec,
    TariffTerms,
    TierSplit,
    bill_total,
    compute_bill,
    compute_bill_lines,
    round_money,
    split_tiers,
)

__all__ = [
    "LINE_KINDS",
    "BillBreakdown",
    "LineKind",
    "LineSpec",
    "TariffTerms",
    "TierSplit",
    "bill_total",
    "compute_bill",
    "compute_bill_lines",
    "round_money",
    "split_tiers",
]
