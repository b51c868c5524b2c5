from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

Money = Numeric(12, 2)
Energy = Numeric(12, 1)
Price = Numeric(8, 4)


class Tariff(Base):
    """A tiered tariff with a peak/valley split (monthly tier boundaries, prices in yuan per kWh).

    The energy price of a kWh is its time-of-use base price (peak or valley) plus its tier's surcharge.
    """

    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    tier1_limit_kwh: Mapped[Decimal] = mapped_column(Energy)
    tier2_limit_kwh: Mapped[Decimal] = mapped_column(Energy)
    tier2_surcharge: Mapped[Decimal] = mapped_column(Price)
    tier3_surcharge: Mapped[Decimal] = mapped_column(Price)
    peak_price: Mapped[Decimal] = mapped_column(Price)
    valley_price: Mapped[Decimal] = mapped_column(Price)
    peak_starts: Mapped[time]
    valley_starts: Mapped[time]


class Bill(Base):
    __tablename__ = "bills"
    __table_args__ = (UniqueConstraint("account_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("utility_accounts.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    period_start: Mapped[date]
    period_end: Mapped[date]
    days: Mapped[int]
    kwh: Mapped[Decimal] = mapped_column(Energy)
    kwh_peak: Mapped[Decimal] = mapped_column(Energy)
    kwh_valley: Mapped[Decimal] = mapped_column(Energy)
    amount: Mapped[Decimal] = mapped_column(Money)
    issued_at: Mapped[datetime]
    due_date: Mapped[date]
    paid_at: Mapped[datetime | None]

    lines: Mapped[list[BillLine]] = relationship(
        back_populates="bill", order_by="BillLine.position", cascade="all, delete-orphan"
    )


class BillLine(Base):
    """One line of a bill's breakdown; a bill's lines add up to its amount.

    kind is peak or valley (energy at the base price) or tier2 / tier3 (the surcharge on kWh above a tier).
    """

    __tablename__ = "bill_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    kwh: Mapped[Decimal] = mapped_column(Energy)
    unit_price: Mapped[Decimal] = mapped_column(Price)
    amount: Mapped[Decimal] = mapped_column(Money)

    bill: Mapped[Bill] = relationship(back_populates="lines")
