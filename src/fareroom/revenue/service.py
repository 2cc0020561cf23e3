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
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fareroom.kit.errors import ValidationFailed
from fareroom.models.business import User
from fareroom.models.chat import ChatRoom
from fareroom.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from fareroom.models.metering import ChatSession
from fareroom.models.payment import Payment, Refund

GROUPS = ("business", "agent", "room")
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


@dataclass
class RevenueLine:
    key: str | None  # the business, agent or room id; None: not made in a chat
    label: str
    currency: str
    figures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))


class RevenueService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def report(
        self, business_id: str, *, group_by: str = "business", start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[RevenueLine]:  # fmt: skip
        if group_by not in GROUPS:
            raise ValidationFailed(f"'group_by' is one of {', '.join(GROUPS)}.",
                                   code="invalid_group_by")  # fmt: skip
        if start and end and end <= start:
            raise ValidationFailed("The period ends before it starts.", code="invalid_period")
        t, e, a = LedgerTransfer, LedgerEntry, LedgerAccount
        paid, refunded_payment = aliased(Payment), aliased(Payment)
        room = func.coalesce(paid.room_id, refunded_payment.room_id, ChatSession.room_id)
        agent = func.coalesce(paid.agent_id, refunded_payment.agent_id, ChatSession.agent_id)
        dimensions: dict[str, ColumnElement[Any]] = {
            "business": t.business_id.expression, "agent": agent, "room": room}  # fmt: skip
        dimension = dimensions[group_by]
        stmt = (
            select(dimension.label("key"), t.currency, t.kind, a.kind, func.sum(e.amount))
            .select_from(e).join(t, t.id == e.transfer_id).join(a, a.id == e.account_id)
            .outerjoin(paid, and_(t.kind == "payment_captured", paid.id == t.reference))
            .outerjoin(Refund, and_(t.kind == "payment_refunded", Refund.id == t.reference))
            .outerjoin(refunded_payment, refunded_payment.id == Refund.payment_id)
            .outerjoin(ChatSession, and_(t.kind == "debt_abandoned",
                                         ChatSession.id == t.reference))
            .where(t.business_id == business_id)
            .group_by(dimension, t.currency, t.kind, a.kind)
        )  # fmt: skip
        if start:
            stmt = stmt.where(t.event_at >= start)
        if end:
            stmt = stmt.where(t.event_at < end)
        lines: dict[tuple[str | None, str], RevenueLine] = {}
        totals: dict[tuple[str | None, str], dict[tuple[str, str], int]] = defaultdict(dict)
        for key, currency, transfer_kind, account_kind, amount in await self._session.execute(stmt):
            totals[(key, currency)][(transfer_kind, account_kind)] = int(amount)
        labels = await self._labels(business_id, group_by, {k for k, _ in totals})
        for (key, currency), sums in sorted(totals.items(), key=lambda i: (i[0][1], str(i[0][0]))):
            line = lines.setdefault((key, currency), RevenueLine(
                key, labels.get(key, "(not in a chat)"), currency))  # fmt: skip
            for pair, amount in sums.items():
                if pair in _FIGURE:
                    figure, sign = _FIGURE[pair]
                    line.figures[figure] += sign * amount
                if pair == _PROCESSING:
                    line.figures["processing_fees"] += amount
            line.figures["net"] -= line.figures["refunds"]
        return list(lines.values())

    async def _labels(self, business_id: str, group_by: str, keys: set[str | None]
                      ) -> dict[str | None, str]:  # fmt: skip
        ids = [k for k in keys if k]
        if group_by == "business":
            return {business_id: "All"}
        if not ids:
            return {}
        if group_by == "agent":
            stmt = select(User.id, func.coalesce(func.nullif(User.name, ""), User.email)).where(
                User.business_id == business_id, User.id.in_(ids)
            )
        else:
            stmt = select(ChatRoom.id, ChatRoom.name).where(
                ChatRoom.business_id == business_id, ChatRoom.id.in_(ids)
            )
        return {k: v for k, v in (await self._session.execute(stmt)).all()}
