"""Business revenue, read from the ledger: per business, agent or chat room, over a period.

Every figure is a sum of ledger entries of the business's transfers whose ``event_at`` lies
in the period; a transfer is attributed to the room and agent of what it was for (the
payment a capture or refund belongs to, the session a debt was abandoned in). Payments not
made in a chat (the API's own charges) count for the business with no room or agent.

- gross: captured; platform and processing fees as charged at capture;
- refunds: what refunds took back from the business;
- abandoned debt: what clients left unpaid when the agent gave up collecting;
- net: what the business was credited less what refunds took back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.errors import InvalidPeriod, ValidationFailed
from fareroom.ledger import stats
from fareroom.revenue.repository import GROUPS, RevenueRepository

FIGURES = ("gross", "platform_fees", "processing_fees", "refunds", "abandoned_debt", "net")

# (transfer kind, account kind) → (figure, sign)
_FIGURE = {
    ("payment_captured", "gateway_funds"): ("gross", 1),
    ("payment_captured", "processing_fees"): ("gross", 1),
    ("payment_captured", "platform_fee_revenue"): ("platform_fees", -1),
    ("payment_captured", "business_balance"): ("net", -1),
    ("payment_refunded", "business_balance"): ("refunds", 1),
    ("debt_abandoned", "abandoned_debt"): ("abandoned_debt", -1),
}
_PROCESSING = ("payment_captured", "processing_fees")
_NOT_IN_A_CHAT = "(not in a chat)"  # the label of payments with no room or agent


@dataclass
class RevenueLine:
    key: str | None  # the business, agent or room id; None: not made in a chat
    label: str
    currency: str
    figures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))


class RevenueService:
    def __init__(self, session: AsyncSession) -> None:
        self._repo = RevenueRepository(session)
        self._session = session

    async def series(self, business_id: str, currency: str, *, unit: str, count: int,
                     until: date) -> list[Bucket]:  # fmt: skip
        """The dashboard's charts: gross volume, charges, refunds, new customers."""
        return await series(self._session, business_id, currency, unit=unit, count=count,
                            until=until)  # fmt: skip

    async def report(
        self, business_id: str, *, group_by: str = "business", start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[RevenueLine]:  # fmt: skip
        if group_by not in GROUPS:
            raise ValidationFailed(f"'group_by' is one of {', '.join(GROUPS)}.",
                                   code="invalid_group_by")  # fmt: skip
        if start and end and end <= start:
            raise InvalidPeriod("The period ends before it starts.")
        lines: dict[tuple[str | None, str], RevenueLine] = {}
        totals: dict[tuple[str | None, str], dict[tuple[str, str], int]] = defaultdict(dict)
        for key, currency, transfer_kind, account_kind, amount in await self._repo.sums(
            business_id, group_by, start=start, end=end
        ):
            totals[(key, currency)][(transfer_kind, account_kind)] = amount
        labels = await self._labels(business_id, group_by, {k for k, _ in totals})
        for (key, currency), sums in sorted(totals.items(), key=lambda i: (i[0][1], str(i[0][0]))):
            label = labels.get(key, _NOT_IN_A_CHAT) if key else _NOT_IN_A_CHAT
            line = lines.setdefault((key, currency), RevenueLine(key, label, currency))
            for pair, amount in sums.items():
                if pair in _FIGURE:
                    figure, sign = _FIGURE[pair]
                    line.figures[figure] += sign * amount
                if pair == _PROCESSING:
                    line.figures["processing_fees"] += amount
            line.figures["net"] -= line.figures["refunds"]
        return list(lines.values())

    async def _labels(self, business_id: str, group_by: str, keys: set[str | None]
                      ) -> dict[str, str]:  # fmt: skip
        ids = [k for k in keys if k]
        if group_by == "business":
            return {business_id: "All"}
        if not ids:
            return {}
        if group_by == "agent":
            return await self._repo.agent_names(business_id, ids)
        return await self._repo.room_names(business_id, ids)


UNITS = ("day", "week", "month")


@dataclass(frozen=True)
class Bucket:
    """One bar of the dashboard's charts: a day, a week (from Monday) or a month."""

    start: date
    gross: int = 0
    charges: int = 0
    refunded: int = 0
    customers: int = 0


def bucket_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _previous(start: date, unit: str) -> date:
    if unit == "day":
        return start - timedelta(days=1)
    if unit == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


async def series(session: AsyncSession, business_id: str, currency: str, *, unit: str,
                 count: int, until: date) -> list[Bucket]:  # fmt: skip
    """The last ``count`` buckets up to ``until``, oldest first, from the daily figures."""
    if unit not in UNITS:
        raise ValidationFailed(f"Show by {', '.join(UNITS)}.", code="invalid_unit")
    starts = [bucket_start(until, unit)]
    for _ in range(count - 1):
        starts.append(_previous(starts[-1], unit))
    starts.reverse()
    sums = {s: dict.fromkeys(stats.FIGURES, 0) for s in starts}
    for row in await stats.days(session, business_id, starts[0], until):
        if row.currency == currency:
            figures = sums[bucket_start(row.day, unit)]
            for name in stats.FIGURES:
                figures[name] += getattr(row, name)
    return [Bucket(s, **sums[s]) for s in starts]
