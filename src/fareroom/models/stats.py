"""Daily figures of each business, kept as they happen (the dashboard's charts read these
rows, a few hundred at most, whatever the number of payments and customers)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base


class DailyStat(Base):
    __tablename__ = "daily_stats"

    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # UTC
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    gross: Mapped[int] = mapped_column(BigInteger, default=0)  # captured, minor units
    charges: Mapped[int] = mapped_column(Integer, default=0)  # successful charges
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    customers: Mapped[int] = mapped_column(Integer, default=0)  # new customers
