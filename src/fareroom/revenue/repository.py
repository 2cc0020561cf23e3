"""All SQL of revenue: sums of ledger entries, attributed to what each transfer was for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import aliased

from fareroom.kit.repository import Repository
from fareroom.models.business import User
from fareroom.models.chat import ChatRoom
from fareroom.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from fareroom.models.metering import ChatSession
from fareroom.models.payment import Payment, Refund

_T, _E, _A = LedgerTransfer, LedgerEntry, LedgerAccount
_PAID, _REFUNDED = aliased(Payment), aliased(Payment)
# A transfer is attributed to the room and agent of the payment a capture or refund
# belongs to, or of the session a debt was abandoned in.
_DIMENSIONS: dict[str, ColumnElement[Any]] = {
    "business": _T.business_id.expression,
    "agent": func.coalesce(_PAID.agent_id, _REFUNDED.agent_id, ChatSession.agent_id),
    "room": func.coalesce(_PAID.room_id, _REFUNDED.room_id, ChatSession.room_id),
}
GROUPS = tuple(_DIMENSIONS)

# (key, currency, transfer kind, account kind, sum of entries)
Sum = tuple[str | None, str, str, str, int]


class RevenueRepository(Repository):
    async def sums(
        self, business_id: str, group_by: str, *, start: datetime | None, end: datetime | None
    ) -> list[Sum]:
        """The sums of the business's ledger entries by ``group_by`` (one of ``GROUPS``),
        currency, transfer kind and account kind, over transfers whose ``event_at`` lies in
        [start, end). Payments not made in a chat have no room or agent (key None)."""
        dimension = _DIMENSIONS[group_by]
        stmt = (
            select(dimension.label("key"), _T.currency, _T.kind, _A.kind, func.sum(_E.amount))
            .select_from(_E).join(_T, _T.id == _E.transfer_id).join(_A, _A.id == _E.account_id)
            .outerjoin(_PAID, and_(_T.kind == "payment_captured", _PAID.id == _T.reference))
            .outerjoin(Refund, and_(_T.kind == "payment_refunded", Refund.id == _T.reference))
            .outerjoin(_REFUNDED, _REFUNDED.id == Refund.payment_id)
            .outerjoin(ChatSession, and_(_T.kind == "debt_abandoned",
                                         ChatSession.id == _T.reference))
            .where(_T.business_id == business_id)
            .group_by(dimension, _T.currency, _T.kind, _A.kind)
        )  # fmt: skip
        if start:
            stmt = stmt.where(_T.event_at >= start)
        if end:
            stmt = stmt.where(_T.event_at < end)
        return [(k, c, t, a, int(s)) for k, c, t, a, s in await self.session.execute(stmt)]

    async def agent_names(self, business_id: str, ids: Sequence[str]) -> dict[str, str]:
        """The business's agents among ``ids``: their names, or emails where unnamed."""
        stmt = select(User.id, func.coalesce(func.nullif(User.name, ""), User.email)).where(
            User.business_id == business_id, User.id.in_(ids)
        )
        return {k: v for k, v in (await self.session.execute(stmt)).all()}

    async def room_names(self, business_id: str, ids: Sequence[str]) -> dict[str, str]:
        stmt = select(ChatRoom.id, ChatRoom.name).where(
            ChatRoom.business_id == business_id, ChatRoom.id.in_(ids)
        )
        return {k: v for k, v in (await self.session.execute(stmt)).all()}
