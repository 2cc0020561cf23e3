from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, or_, select, tuple_

from fareroom.kit.repository import Repository
from fareroom.models.business import Business
from fareroom.models.gateway import GatewayRequest
from fareroom.models.payment import Payment, Payout, Refund

_PAYMENT = select(Payment).where(
    Payment.id == bindparam("payment_id"), Payment.business_id == bindparam("business_id")
)
_PAYMENT_LOCKED = _PAYMENT.with_for_update().execution_options(populate_existing=True)


class PaymentsRepository(Repository):
    """Every query is scoped to one business."""

    async def payment(
        self, business_id: str, payment_id: str, *, lock: bool = False
    ) -> Payment | None:
        # Locking serialises concurrent captures / refunds of one payment (a row lock on
        # PostgreSQL; SQLite serialises every write transaction anyway).
        stmt = _PAYMENT_LOCKED if lock else _PAYMENT
        params = {"payment_id": payment_id, "business_id": business_id}
        return (await self.session.execute(stmt, params)).scalar()

    async def payment_by_charge(self, charge_id: str) -> Payment | None:
        stmt = select(Payment).where(Payment.gateway_charge_id == charge_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def payments(
        self, business_id: str, *, limit: int, older_than: Payment | None = None,
        newer_than: Payment | None = None, client_id: str | None = None,
        status: str | None = None,
    ) -> Sequence[Payment]:  # fmt: skip
        """Newest first by (created_at, id): a keyset, so a page is the same whatever was
        added since the one before it. ``newer_than`` reads the page before a payment."""
        stmt = select(Payment).where(Payment.business_id == business_id)
        if client_id:
            stmt = stmt.where(Payment.client_id == client_id)
        if status:
            stmt = stmt.where(Payment.status == status)
        key = (Payment.created_at, Payment.id)
        if older_than is not None:
            stmt = stmt.where(tuple_(*key) < tuple_(older_than.created_at, older_than.id))
        if newer_than is not None:
            stmt = stmt.where(tuple_(*key) > tuple_(newer_than.created_at, newer_than.id))
            stmt = stmt.order_by(*key).limit(limit)
            return list(reversed((await self.session.execute(stmt)).scalars().all()))
        stmt = stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def refunds(self, business_id: str, payment_ids: Sequence[str]) -> Sequence[Refund]:
        if not payment_ids:
            return []
        stmt = (
            select(Refund)
            .where(Refund.business_id == business_id, Refund.payment_id.in_(payment_ids))
            .order_by(Refund.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def refund(self, business_id: str, refund_id: str) -> Refund | None:
        return await self.of_business(Refund, business_id, refund_id)

    async def refund_by_gateway_id(self, gateway_refund_id: str) -> Refund | None:
        stmt = select(Refund).where(Refund.gateway_refund_id == gateway_refund_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def payouts(self, business_id: str, *, limit: int) -> Sequence[Payout]:
        """Newest first by when they were made (a scheduled payout's id is its day's, not
        time-ordered)."""
        stmt = (select(Payout).where(Payout.business_id == business_id)
                .order_by(Payout.created_at.desc(), Payout.id.desc()).limit(limit))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def payout_by_gateway_id(self, gateway_payout_id: str) -> Payout | None:
        stmt = select(Payout).where(Payout.gateway_payout_id == gateway_payout_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def gateway_requests(
        self, business_id: str, *, limit: int, starting_after: str | None = None,
        outcome: str | None = None, operation: str | None = None, code: str | None = None,
    ) -> Sequence[GatewayRequest]:  # fmt: skip
        """Newest first, filtered: an outcome, an operation, an error or decline code."""
        where = []
        if outcome:
            where.append(GatewayRequest.outcome == outcome)
        if operation:
            where.append(GatewayRequest.operation == operation)
        if code:
            where.append(
                or_(GatewayRequest.error_code == code, GatewayRequest.decline_code == code)
            )
        return await self.newest_first(
            GatewayRequest, business_id, *where, limit=limit, starting_after=starting_after
        )

    async def business(self, business_id: str) -> Business:
        found = await self.session.get(Business, business_id)
        assert found is not None
        return found

    async def business_by_account(self, account_id: str) -> Business | None:
        stmt = select(Business).where(Business.gateway_account_id == account_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
