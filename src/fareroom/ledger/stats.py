"""A business's daily figures (``daily_stats``): gross volume, successful charges, refunds and
new customers per day, counted in the transaction of what they count (the capture, the
refund, the client's creation), so they agree with the payments and clients they sum. The
dashboard's charts read a few hundred rows, not every payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.models.stats import DailyStat

_TABLE = cast(Table, DailyStat.__table__)
FIGURES = ("gross", "charges", "refunded", "customers")


@cache
def _upsert(dialect: str, names: tuple[str, ...]) -> Any:
    """The statement that adds ``names``' values to a day's row (made once: SQLAlchemy
    caches its compiled form by the statement, not by what builds it)."""
    insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)
    insert = insert.values({c: bindparam(c) for c in ("business_id", "day", "currency",
                                                      *FIGURES)})  # fmt: skip
    return insert.on_conflict_do_update(
        index_elements=["business_id", "day", "currency"],
        set_={name: _TABLE.c[name] + insert.excluded[name] for name in names},
    )


async def count(session: AsyncSession, business_id: str, at: datetime, currency: str,
                **figures: int) -> None:  # fmt: skip
    """Add ``figures`` (of FIGURES) to the business's row of that day."""
    values = {"business_id": business_id, "day": at.date(), "currency": currency,
              **dict.fromkeys(FIGURES, 0), **figures}  # fmt: skip
    stmt = _upsert(session.get_bind().dialect.name, tuple(sorted(figures)))
    await session.execute(stmt, values)


async def days(session: AsyncSession, business_id: str, start: date, end: date
               ) -> Sequence[DailyStat]:  # fmt: skip
    """The business's rows from ``start`` to ``end`` (inclusive), by day."""
    stmt = (select(DailyStat).where(DailyStat.business_id == business_id,
                                    DailyStat.day >= start, DailyStat.day <= end)
            .order_by(DailyStat.day))  # fmt: skip
    return (await session.scalars(stmt)).all()
