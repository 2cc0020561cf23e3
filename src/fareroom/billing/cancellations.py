"""Cancellation types: kinds of cancellation a business defines (a name, and what of a
payment it refunds: in full, a percentage, or nothing), and payments cancelled with them.

Cancelling a payment with a type refunds ``refund_percent`` of what was captured (rounded
once, half up), less what was refunded already, through the gateway, in the same transaction
as the record of the cancellation (``payments.refund``: the ledger's ``payment_refunded``);
a hold not yet captured is released instead. A payment is cancelled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import round_half_up
from fareroom.kit.repository import Repository
from fareroom.models.billing import CancellationType, PaymentCancellation
from fareroom.models.business import Business
from fareroom.models.payment import PaymentStatus
from fareroom.payments.service import PaymentsService

MAX_TYPES = 50


@dataclass(frozen=True)
class Cancelled:
    cancellation: PaymentCancellation
    payment_status: str


class CancellationsRepository(Repository):
    async def types(self, business_id: str) -> Sequence[CancellationType]:
        stmt = (select(CancellationType).where(CancellationType.business_id == business_id)
                .order_by(CancellationType.name))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def of_payment(self, payment_id: str) -> PaymentCancellation | None:
        return await self.session.get(PaymentCancellation, payment_id)


class CancellationsService:
    def __init__(self, session: AsyncSession, clock: Clock, payments: PaymentsService) -> None:
        self._repo = CancellationsRepository(session)
        self._clock = clock
        self._payments = payments

    async def define(self, biz: Business, *, name: str, refund_percent: int) -> CancellationType:
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("Name the cancellation type in 1 to 100 characters.",
                                   code="invalid_name")  # fmt: skip
        if not isinstance(refund_percent, int) or not 0 <= refund_percent <= 100:
            raise ValidationFailed("A cancellation refunds 0 to 100 % of the payment.",
                                   code="invalid_refund_percent")  # fmt: skip
        existing = await self._repo.types(biz.id)
        if any(t.name.lower() == name.lower() for t in existing):
            raise Conflict(f"A cancellation type is named {name!r} already.", code="name_taken")
        if len(existing) >= MAX_TYPES:
            raise Conflict(f"A business has at most {MAX_TYPES} cancellation types.",
                           code="too_many_types")  # fmt: skip
        found = CancellationType(
            id=new_id("ctype"),
            business_id=biz.id,
            name=name,
            refund_percent=refund_percent,
            created_at=self._clock.now(),
        )
        await self._repo.add(found)
        return found

    async def types(self, business_id: str) -> Sequence[CancellationType]:
        return await self._repo.types(business_id)

    async def of_payment(self, payment_id: str) -> PaymentCancellation | None:
        return await self._repo.of_payment(payment_id)

    async def cancel(self, biz: Business, payment_id: str, *, type_id: str, reason: str = ""
                     ) -> Cancelled:  # fmt: skip
        kind = await self._repo.of_business(CancellationType, biz.id, type_id)
        if kind is None:
            raise NotFound(f"No cancellation type {type_id!r} in this business.",
                           code="cancellation_type_not_found")  # fmt: skip
        if len(reason) > 300:
            raise ValidationFailed("A reason is at most 300 characters.", code="reason_too_long")
        payment = (await self._payments.get(biz.id, payment_id)).payment
        if await self._repo.of_payment(payment.id) is not None:
            raise Conflict("This payment was cancelled already.", code="payment_cancelled")
        refund_id, refunded = None, 0
        if payment.status == PaymentStatus.REQUIRES_CAPTURE:
            payment = await self._payments.cancel(biz, payment.id)  # a hold: released
        elif payment.status == PaymentStatus.SUCCEEDED:
            due = round_half_up(Fraction(payment.amount_captured * kind.refund_percent, 100))
            amount = min(due - payment.amount_refunded,
                         payment.amount_captured - payment.amount_refunded)  # fmt: skip
            if amount > 0:
                refund = await self._payments.refund(
                    biz, payment.id, amount=amount,
                    reason=f"Cancelled: {kind.name}"[:200])  # fmt: skip
                refund_id, refunded = refund.id, refund.amount
        else:
            raise Conflict(f"This payment is {payment.status}; nothing to cancel.",
                           code="payment_not_cancellable")  # fmt: skip
        found = PaymentCancellation(
            payment_id=payment.id,
            business_id=biz.id,
            type_id=kind.id,
            type_name=kind.name,
            refund_percent=kind.refund_percent,
            refund_id=refund_id,
            refunded=refunded,
            reason=reason.strip(),
            created_at=self._clock.now(),
        )
        await self._repo.add(found)
        return Cancelled(found, payment.status)
