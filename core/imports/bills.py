"""The bills file: one row per account and month, upserted by (account number, period). The amount and the
lines are computed from the account's tariff (core.billing.calc), never taken from the file: an amount the
file gives is a cross-check, and a row whose amount differs by more than 0.01 from the computed one is an
error naming both.

Usage is the month's kWh at the peak and at the valley price; a total alone is enough only under a tariff
that prices both the same (it is then recorded at the peak price). The report lists the bills created or
changed (BillRef), for whatever follows a bills import (statements to mail).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.billing.calc import CENT, BillBreakdown, TariffTerms, compute_bill
from core.imports import messages as M
from core.imports.base import Context, Importer, Plan, differs
from core.imports.reader import Cells, Column
from core.imports.report import BillRef, ImportKind
from core.imports.repository import ImportRepository
from core.models import Bill, BillLine, Tariff, UtilityAccount

MAX_KWH = Decimal("99999999999.9")  # Numeric(12, 1)
MAX_MONEY = Decimal("9999999999.99")  # Numeric(12, 2)
ZERO = Decimal(0)
_KWH = ("kwh", "kwh_peak", "kwh_valley")


@dataclass(frozen=True, slots=True)
class BillRow:
    number: str
    period: str
    kwh: Decimal | None  # the total, when given
    split: tuple[Decimal, Decimal] | None  # (peak, valley), when given
    due_date: date
    amount: Decimal | None  # the file's figure, to cross-check
    dates: dict[str, Any]  # issued_at and paid_at, when the file has them (see core.imports.reader)


class BillPlan(Plan):
    def __init__(self, now: datetime) -> None:
        super().__init__("bills")
        self.now = now
        self.new: list[dict[str, Any]] = []
        self.new_lines: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self.relined: list[tuple[Bill, list[dict[str, Any]]]] = []
        self.refs: list[BillRef] = []

    @property
    def changed_bills(self) -> tuple[BillRef, ...]:
        return tuple(self.refs)

    async def write(self, repo: ImportRepository) -> None:
        self.apply_updates()
        for bill, lines in self.relined:
            bill.lines = [BillLine(**line) for line in lines]
        await repo.flush()
        await repo.insert_bills(self.new, self.new_lines)


class BillImporter(Importer[BillRow]):
    kind = ImportKind.BILLS
    columns = (
        Column("account_number", required=True),
        Column("period", required=True),
        Column("kwh"),
        Column("kwh_peak"),
        Column("kwh_valley"),
        Column("due_date", required=True),
        Column("amount"),
        Column("issued_at"),
        Column("paid_at"),
    )
    unique = (("account_number", "period"), "bill of this account for this period")

    def parse(self, cells: Cells, ctx: Context) -> BillRow | None:
        number, period = cells.account_number(), cells.month("period")
        kwh, peak, valley = (cells.decimal(name, places=1, limit=MAX_KWH, example="312.5") for name in _KWH)
        due = cells.date("due_date")
        amount = cells.decimal("amount", places=2, limit=MAX_MONEY)
        dates: dict[str, Any] = {}
        if cells.has("issued_at") and (issued := cells.moment("issued_at", ctx.tz, ctx.now)) is not None:
            dates["issued_at"] = issued  # left empty: the time of the import for a new bill, else as it was
        if cells.has("paid_at"):
            dates["paid_at"] = cells.moment("paid_at", ctx.tz, ctx.now)  # empty: not paid
        if period is not None:
            _check_period(cells, ctx, period, due)
        split = _split(cells, kwh, peak, valley)
        if not cells.ok or number is None or period is None or due is None:
            return None
        return BillRow(number, period, kwh, split, due, amount, dates)

    async def plan(self, ctx: Context, rows: Sequence[tuple[int, BillRow]]) -> Plan:
        plan = BillPlan(ctx.now)
        accounts = await ctx.repo.accounts({row.number for _, row in rows})
        tariffs = await ctx.repo.tariffs_by_id({account.tariff_id for account in accounts.values()})
        bills = await ctx.repo.bills(
            {(accounts[row.number].id, row.period) for _, row in rows if row.number in accounts}
        )
        for line, row in rows:
            account = accounts.get(row.number)
            if account is None:
                ctx.problems.add(line, "account_number", M.ACCOUNT_NOT_IN_DATABASE.format(number=row.number))
                continue
            breakdown = _priced(ctx, line, row, tariffs[account.tariff_id])
            if breakdown is not None:
                self._compare(plan, account, bills.get((account.id, row.period)), row, breakdown)
        return plan

    @staticmethod
    def _compare(
        plan: BillPlan, account: UtilityAccount, bill: Bill | None, row: BillRow, breakdown: BillBreakdown
    ) -> None:
        figures = _bill_values(row, breakdown)  # what the statement shows; not when it was issued or paid
        values = {**figures, **row.dates}
        lines = [
            {
                "position": position,
                "kind": spec.kind,
                "kwh": spec.kwh,
                "unit_price": spec.unit_price,
                "amount": spec.amount,
            }
            for position, spec in enumerate(breakdown.lines, start=1)
        ]
        ref = BillRef(account.id, account.account_number, row.period)
        if bill is None:
            plan.tallies["bills"].count(new=True, changed=False)
            plan.new.append(
                {"issued_at": plan.now, "paid_at": None, **values, "account_id": account.id, "period": row.period}
            )
            plan.new_lines[(account.id, row.period)] = lines
            plan.refs.append(ref)
            return
        relined = [(li.kind, li.kwh, li.unit_price, li.amount) for li in bill.lines] != [
            (spec.kind, spec.kwh, spec.unit_price, spec.amount) for spec in breakdown.lines
        ]
        changed = differs(bill, values) or relined
        plan.tallies["bills"].count(new=False, changed=changed)
        if changed:
            plan.updates.append((bill, values))
            corrected = relined or differs(bill, figures)  # a payment recorded is no correction
            plan.refs.append(BillRef(account.id, account.account_number, row.period, corrected=corrected))
        if relined:
            plan.relined.append((bill, lines))


def _check_period(cells: Cells, ctx: Context, period: str, due: date | None) -> None:
    start = _period_start(period)
    today = ctx.now.astimezone(ctx.tz).date()
    if start > today.replace(day=1):
        cells.error("period", M.FUTURE_PERIOD.format(period=period))
    elif due is not None and due < start:
        cells.error("due_date", M.DUE_BEFORE_PERIOD.format(due=due.isoformat(), period=period))


def _split(
    cells: Cells, kwh: Decimal | None, peak: Decimal | None, valley: Decimal | None
) -> tuple[Decimal, Decimal] | None:
    """(peak, valley) as the file gives them, checked against its total; None when it gives the total only."""
    if peak is None and valley is None:
        if kwh is None and cells.ok:
            cells.error("kwh", M.KWH_NONE)
        return None
    if peak is None or valley is None:
        cells.error("kwh_peak" if peak is None else "kwh_valley", M.KWH_PARTS)
        return None
    if kwh is not None and kwh != peak + valley:
        cells.error("kwh", M.KWH_SUM.format(kwh=kwh, total=peak + valley))
    return peak, valley


def _priced(ctx: Context, line: int, row: BillRow, tariff: Tariff) -> BillBreakdown | None:
    """The bill under the account's tariff, or None (with the error) when the row cannot be priced or its
    amount disagrees."""
    split = row.split
    if split is None:
        if tariff.peak_price != tariff.valley_price:
            ctx.problems.add(line, "kwh", M.KWH_TIME_OF_USE.format(tariff=tariff.code))
            return None
        split = (row.kwh or ZERO, ZERO)
    breakdown = compute_bill(TariffTerms.from_tariff(tariff), *split)
    if row.amount is not None and abs(row.amount - breakdown.amount) > CENT:
        detail = "; ".join(
            f"{spec.kind} {_plain(spec.kwh)} kWh × {_plain(spec.unit_price)} = {spec.amount}"
            for spec in breakdown.lines
        )
        message = M.AMOUNT_DIFFERS.format(
            given=row.amount, computed=breakdown.amount, tariff=tariff.code, detail=detail
        )
        ctx.problems.add(line, "amount", message)
        return None
    return breakdown


def _plain(number: Decimal) -> str:
    """A figure without trailing zeros: 150.0 -> 150, 0.5680 -> 0.568."""
    return f"{number.normalize():f}"


def _period_start(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def _bill_values(row: BillRow, breakdown: BillBreakdown) -> dict[str, Any]:
    start = _period_start(row.period)
    days = calendar.monthrange(start.year, start.month)[1]
    return {
        "period_start": start,
        "period_end": start.replace(day=days),
        "days": days,
        "kwh": breakdown.kwh,
        "kwh_peak": breakdown.kwh_peak,
        "kwh_valley": breakdown.kwh_valley,
        "amount": breakdown.amount,
        "due_date": row.due_date,
    }
