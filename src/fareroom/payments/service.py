"""Payments: charge now, hold then capture once or cancel, refunds, payouts, Connect.

Each state change and its ledger transfer are written in the caller's transaction. Gateway
idempotency keys are derived from our own ids (``payment:{id}:create`` …): a retried request
reuses the id (see ``idempotency``), so the gateway replays its first answer instead of
charging again, even when that first answer was lost on the way back.

Fees: the platform fee is a rate of the captured amount by category; the processing fee is
what the gateway reports. Refunds come out of the business's balance in full: the platform
keeps its fee and the gateway keeps its fee, as Stripe does by default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import fee_policy_for
from fareroom.clients.service import ClientsService
from fareroom.gateway.base import (
    ChargeRequest,
    ChargeResult,
    GatewayInvalidRequest,
    PaymentGateway,
)
from fareroom.gateway.log import acting_for
from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import (
    MAX_CHARGE_MINOR,
    MIN_CHARGE_MINOR,
    AmountTooLarge,
    AmountTooSmall,
    CurrencyMismatch,
    InvalidAmount,
    Money,
    normalise_currency,
)
from fareroom.ledger import stats
from fareroom.ledger.service import Ledger, business, platform
from fareroom.models.business import Business, ConnectStatus
from fareroom.models.client import Card, Client
from fareroom.models.gateway import GatewayRequest
from fareroom.models.payment import (
    Payment,
    PaymentStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from fareroom.payments.events import (
    EventObject,
    EventOutcome,
    capture_problem,
    rejected,
    same_amount,
)
from fareroom.payments.repository import PaymentsRepository
from fareroom.pricing.fees import CATEGORIES, FeePolicy


class PaymentNotFound(NotFound):
    code = "payment_not_found"

    def __init__(self, payment_id: str) -> None:
        super().__init__(f"No payment {payment_id!r} in this business.")


@dataclass(frozen=True)
class PaymentSource:
    """What a payment was for, when it came from a chat (revenue is reported by these)."""

    id: str  # a session, a visit (a hold placed before an agent is given) or a request
    room_id: str
    agent_id: str | None


class RefundedShare(StrEnum):
    """How much of what was captured came back."""

    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


@dataclass(frozen=True)
class PaymentView:
    payment: Payment
    refunds: Sequence[Refund]

    @property
    def refund_status(self) -> RefundedShare:
        """The payment's ``status`` stays the charge's own (a refunded payment still
        succeeded)."""
        p = self.payment
        if p.amount_refunded == 0:
            return RefundedShare.NONE
        full = p.amount_refunded >= p.amount_captured
        return RefundedShare.FULL if full else RefundedShare.PARTIAL


def check_amount(amount: object, *, field: str = "amount", minimum: int = 1) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount(f"'{field}' is a whole number of minor units (cents).")
    if amount < minimum:
        raise AmountTooSmall(f"'{field}' must be at least {minimum} minor units.", minimum=minimum)
    if amount > MAX_CHARGE_MINOR:
        raise AmountTooLarge(f"'{field}' may be at most {MAX_CHARGE_MINOR} minor units.")
    return amount


def _refundable(payment: Payment, amount: int | None) -> int:
    """What a refund of ``amount`` (None: all that is left) takes, or why it cannot; the
    messages speak money, for people read them on the dashboard."""
    left = payment.amount_captured - payment.amount_refunded
    if left == 0:
        raise Conflict("This payment is already refunded in full.", code="payment_fully_refunded")
    if amount is None:
        return left
    if isinstance(amount, int) and amount < 1:
        raise AmountTooSmall(f"A refund is at least {Money(1, payment.currency).format()}.",
                             minimum=1)  # fmt: skip
    check_amount(amount)
    if amount > left:
        refunded = Money(payment.amount_refunded, payment.currency).format()
        raise ValidationFailed(
            f"You can refund at most {Money(left, payment.currency).format()}"
            + (f" ({refunded} is refunded already)." if payment.amount_refunded else "."),
            code="amount_exceeds_refundable", refundable=left,
        )  # fmt: skip
    return amount


def _destination(biz: Business) -> str | None:
    """The connected account that receives the business's charges, once it can."""
    return biz.gateway_account_id if biz.connect_status == ConnectStatus.ENABLED else None


class PaymentsService:
    def __init__(
        self, session: AsyncSession, gateway: PaymentGateway, ledger: Ledger,
        clients: ClientsService, clock: Clock, default_fees: FeePolicy,
    ) -> None:  # fmt: skip
        self._repo = PaymentsRepository(session)
        self._default_fees = default_fees
        self._gateway = gateway
        self._ledger = ledger
        self._clients = clients
        self._clock = clock

    def _fees(self, biz: Business) -> FeePolicy:
        return fee_policy_for(biz, self._default_fees)

    # ------------------------------------------------------------ charges and holds

    async def charge(
        self, biz: Business, *, client_id: str, card_id: str | None,
        amount: int, currency: str, category: str, capture: bool, description: str = "",
        payment_id: str | None = None, off_session: bool = False,
        source: PaymentSource | None = None, found: tuple[Client, Card] | None = None,
    ) -> Payment:  # fmt: skip
        """``found``: the client and card, read (and locked, if need be) by the caller in
        this transaction already."""
        fees = self._fees(biz)
        amount = check_amount(amount, minimum=MIN_CHARGE_MINOR)
        currency = normalise_currency(currency)
        if currency != biz.default_currency:
            raise CurrencyMismatch(
                f"This business charges in {biz.default_currency}, not {currency}."
            )
        if category not in CATEGORIES:
            raise ValidationFailed("'category' is 'service' or 'goods'.", code="invalid_category")
        if found is not None and found[0].id == client_id and found[1].id == card_id:
            client, card = found
            card_id = card.id
        else:
            client, card = await self._clients.get(biz.id, client_id), None
        card_id = card_id or client.default_card_id
        if card_id is None:
            raise ValidationFailed(
                "The client has no card; register one first.", code="card_required"
            )
        card = card or await self._clients.card(biz.id, client.id, card_id)
        payment_id = payment_id or new_id("pay")
        destination = _destination(biz)
        acting_for(biz.id)
        result = await self._gateway.create_charge(ChargeRequest(
            amount=amount, currency=currency, customer_id=str(client.gateway_customer_id),
            payment_method_id=card.gateway_payment_method_id, capture=capture,
            idempotency_key=f"payment:{payment_id}:create", description=description,
            off_session=off_session, destination_account_id=destination,
            application_fee=fees.platform_fee(amount, category) if destination and capture
            else None,
            metadata={"reference": payment_id, "business": biz.id}))  # fmt: skip
        now = self._clock.now()
        payment = Payment(
            id=payment_id,
            business_id=biz.id,
            client_id=client.id,
            card_id=card.id,
            currency=currency,
            category=category,
            description=description,
            status=PaymentStatus(result.status),
            amount=amount,
            amount_captured=0,
            amount_refunded=0,
            platform_fee=0,
            processing_fee=0,
            business_net=0,
            gateway_charge_id=result.id,
            room_id=source.room_id if source else None,
            agent_id=source.agent_id if source else None,
            source_id=source.id if source else None,
            created_at=now,
            updated_at=now,
        )
        await self._repo.add(payment)
        if payment.status == PaymentStatus.SUCCEEDED:
            await self._record_capture(biz, payment, result)
        return payment

    async def _record_capture(self, biz: Business, payment: Payment, result: ChargeResult) -> None:
        fees = self._fees(biz)
        captured = result.amount_captured
        processing = result.processing_fee or 0
        platform_fee = fees.platform_fee(captured, payment.category)
        net = fees.business_net(captured, payment.category, processing)
        payment.status = PaymentStatus.SUCCEEDED
        payment.amount_captured = captured
        payment.platform_fee = platform_fee
        payment.processing_fee = processing
        payment.business_net = net
        payment.updated_at = self._clock.now()
        cur = payment.currency
        await stats.count(self._repo.session, biz.id, payment.updated_at, cur, gross=captured,
                          charges=1)  # fmt: skip
        await self._ledger.post(
            kind="payment_captured",
            reference=payment.id,
            currency=cur,
            business_id=biz.id,
            legs=[
                (platform("gateway_funds", cur), captured - processing),
                (platform("processing_fees", cur), processing),
                (platform("platform_fee_revenue", cur), -platform_fee),
                (business("business_balance", cur, biz.id), -net),
                # The processing fee is the platform's expense at the gateway; when the
                # business bears it, it is recharged to the business (net = A − PF − PR).
                (platform("processing_fees_recharged", cur), net + platform_fee - captured),
            ],
        )

    async def _locked(self, business_id: str, payment_id: str) -> Payment:
        payment = await self._repo.payment(business_id, payment_id, lock=True)
        if payment is None:
            raise PaymentNotFound(payment_id)
        return payment

    async def capture(self, biz: Business, payment_id: str, *, amount: int | None = None
                      ) -> Payment:  # fmt: skip
        fees = self._fees(biz)
        payment = await self._locked(biz.id, payment_id)
        if payment.status != PaymentStatus.REQUIRES_CAPTURE:
            raise Conflict(
                f"This payment is {payment.status}; only a hold can be captured, and only once.",
                code="payment_not_capturable",
                payment_status=payment.status,
            )
        # The smallest charge applies to what is captured too: capturing 0.01 would cost the
        # business more in processing fees than it brings.
        amount = (
            payment.amount if amount is None else check_amount(amount, minimum=MIN_CHARGE_MINOR)
        )
        if amount > payment.amount:
            raise ValidationFailed(
                f"Cannot capture {amount}: the hold is {payment.amount}.",
                code="amount_exceeds_hold",
                held=payment.amount,
            )
        destination = _destination(biz)
        acting_for(biz.id)
        result = await self._gateway.capture(
            charge_id=str(payment.gateway_charge_id),
            amount=amount,
            idempotency_key=f"payment:{payment.id}:capture",
            application_fee=fees.platform_fee(amount, payment.category) if destination else None,
        )
        await self._record_capture(biz, payment, result)
        return payment

    async def cancel(self, biz: Business, payment_id: str) -> Payment:
        payment = await self._locked(biz.id, payment_id)
        if payment.status != PaymentStatus.REQUIRES_CAPTURE:
            raise Conflict(
                f"This payment is {payment.status}; only a hold can be cancelled.",
                code="payment_not_cancelable",
                payment_status=payment.status,
            )
        acting_for(biz.id)
        try:
            await self._gateway.cancel(charge_id=str(payment.gateway_charge_id),
                                       idempotency_key=f"payment:{payment.id}:cancel")  # fmt: skip
        except GatewayInvalidRequest:
            # Released already (Stripe cancels a hold itself after 7 days, and then refuses
            # to cancel it): what is asked, no hold on the card, is so. A capture is not.
            if not await self._released(payment):
                raise
        payment.status = PaymentStatus.CANCELED
        payment.updated_at = self._clock.now()
        return payment

    async def _released(self, payment: Payment) -> bool:
        charge = await self._gateway.retrieve_charge(charge_id=str(payment.gateway_charge_id))
        return charge.status == "canceled"

    # ------------------------------------------------------------ refunds

    async def refund(
        self, biz: Business, payment_id: str, *, amount: int | None = None, reason: str = "",
        refund_id: str | None = None,
    ) -> Refund:  # fmt: skip
        payment = await self._locked(biz.id, payment_id)
        if payment.status != PaymentStatus.SUCCEEDED:
            raise Conflict(
                f"This payment is {payment.status}; only a captured payment can be refunded.",
                code="payment_not_refundable",
                payment_status=payment.status,
            )
        if refund_id is not None and (done := await self._repo.refund(biz.id, refund_id)):
            # The same refund asked for again (a form sent twice): it is done once.
            if done.payment_id != payment.id:
                raise Conflict("That refund belongs to another payment.", code="refund_id_taken")
            return done
        amount = _refundable(payment, amount)
        if len(reason) > 200:
            raise ValidationFailed(
                "The reason may be 200 characters at most.", code="reason_too_long"
            )
        refund_id = refund_id or new_id("re")
        acting_for(biz.id)
        result = await self._gateway.refund(
            charge_id=str(payment.gateway_charge_id),
            amount=amount,
            idempotency_key=f"refund:{refund_id}",
            reason=reason,
        )
        refund = Refund(
            id=refund_id,
            business_id=biz.id,
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            status=RefundStatus(result.status),
            gateway_refund_id=result.id,
            created_at=self._clock.now(),
        )
        payment.amount_refunded += amount
        payment.updated_at = self._clock.now()
        await self._repo.add(refund)
        await stats.count(self._repo.session, biz.id, refund.created_at, payment.currency,
                          refunded=amount)  # fmt: skip
        cur = payment.currency
        await self._ledger.post(
            kind="payment_refunded",
            reference=refund.id,
            currency=cur,
            business_id=biz.id,
            legs=[
                (business("business_balance", cur, biz.id), amount),
                (platform("gateway_funds", cur), -amount),
            ],
        )
        return refund

    # ------------------------------------------------------------ reading

    async def business(self, business_id: str) -> Business:
        return await self._repo.business(business_id)

    async def attribute(self, business_id: str, payment_id: str, source: PaymentSource
                        ) -> Payment:  # fmt: skip
        """Say what a payment is for (a hold placed while the client waited for an agent
        belongs to the session it opens)."""
        payment = await self._locked(business_id, payment_id)
        payment.source_id, payment.room_id = source.id, source.room_id
        payment.agent_id = source.agent_id
        return payment

    async def get(self, business_id: str, payment_id: str) -> PaymentView:
        payment = await self._repo.payment(business_id, payment_id)
        if payment is None:
            raise PaymentNotFound(payment_id)
        return PaymentView(payment, await self._repo.refunds(business_id, [payment.id]))

    async def list(
        self, business_id: str, *, limit: int, starting_after: str | None = None,
        ending_before: str | None = None, client_id: str | None = None,
        status: str | None = None,
    ) -> list[PaymentView]:  # fmt: skip
        """Newest first; ``starting_after`` a payment id gives the older ones after it,
        ``ending_before`` the newer ones before it."""
        payments = await self._repo.payments(
            business_id, limit=limit, client_id=client_id, status=status,
            older_than=await self._cursor(business_id, starting_after, "starting_after"),
            newer_than=await self._cursor(business_id, ending_before, "ending_before"),
        )  # fmt: skip
        refunds = await self._repo.refunds(business_id, [p.id for p in payments])
        return [PaymentView(p, [r for r in refunds if r.payment_id == p.id]) for p in payments]

    async def _cursor(self, business_id: str, payment_id: str | None, name: str
                      ) -> Payment | None:  # fmt: skip
        if payment_id is None:
            return None
        payment = await self._repo.payment(business_id, payment_id)
        if payment is None:
            raise ValidationFailed(f"'{name}' names no payment of this business.",
                                   code="invalid_cursor", field=name)  # fmt: skip
        return payment

    async def gateway_requests(
        self, business_id: str, *, limit: int, starting_after: str | None = None,
        outcome: str | None = None, operation: str | None = None, code: str | None = None,
    ) -> Sequence[GatewayRequest]:  # fmt: skip
        return await self._repo.gateway_requests(
            business_id, limit=limit, starting_after=starting_after, outcome=outcome,
            operation=operation, code=code,
        )  # fmt: skip

    # ------------------------------------------------------------ payouts and Connect

    async def payout(
        self, biz: Business, *, amount: int, currency: str | None = None,
        payout_id: str | None = None, automatic: bool = False,
    ) -> Payout:  # fmt: skip
        amount = check_amount(amount)
        currency = normalise_currency(currency or biz.default_currency)
        payout_id = payout_id or new_id("po")
        balance = business("business_balance", currency, biz.id)
        # The floor refuses a payout above the available balance before the gateway is asked.
        await self._ledger.post(
            kind="payout_paid",
            reference=payout_id,
            currency=currency,
            business_id=biz.id,
            legs=[(balance, amount), (platform("gateway_funds", currency), -amount)],
            floors=[balance],
        )
        acting_for(biz.id)
        result = await self._gateway.create_payout(
            account_id=biz.gateway_account_id
            if biz.connect_status == ConnectStatus.ENABLED
            else None,
            amount=amount,
            currency=currency,
            idempotency_key=f"payout:{payout_id}",
        )
        payout = Payout(
            id=payout_id,
            business_id=biz.id,
            amount=amount,
            currency=currency,
            status=PayoutStatus(result.status),
            gateway_payout_id=result.id,
            arrives_on=date.fromisoformat(result.arrival_date) if result.arrival_date else None,
            automatic=automatic,
            created_at=self._clock.now(),
        )
        await self._repo.add(payout)
        return payout

    async def payouts(self, business_id: str, *, limit: int) -> Sequence[Payout]:
        return await self._repo.payouts(business_id, limit=limit)

    async def start_onboarding(self, biz: Business, *, email: str, return_url: str) -> str:
        """Create the business's connected account if needed; returns the onboarding URL."""
        acting_for(biz.id)
        if biz.gateway_account_id is None:
            account = await self._gateway.create_account(
                country=biz.country, email=email, idempotency_key=f"business:{biz.id}:account"
            )
            biz.gateway_account_id = account.id
            biz.connect_status = ConnectStatus(account.status)
        return await self._gateway.onboarding_link(
            account_id=biz.gateway_account_id, return_url=return_url
        )

    async def refresh_account(self, biz: Business) -> Business:
        if biz.gateway_account_id:
            acting_for(biz.id)
            account = await self._gateway.retrieve_account(account_id=biz.gateway_account_id)
            biz.connect_status = ConnectStatus(account.status)
        return biz

    # ------------------------------------------------------------ gateway events

    async def on_gateway_event(self, event_type: str, obj: EventObject) -> EventOutcome:
        """Apply a webhook's object; idempotent, never moves a state backwards, and never
        moves money on the event's word alone (see ``payments.events``)."""
        handler = self._EVENTS.get(event_type)
        if handler is None:
            return EventOutcome("ignored: event type not handled")
        return await handler(self, obj)

    async def _on_succeeded(self, obj: EventObject) -> EventOutcome:
        found = await self._repo.payment_by_charge(obj.id)
        if found is None:
            return EventOutcome("ignored: unknown payment")
        payment = await self._locked(found.business_id, found.id)
        if payment.status != PaymentStatus.REQUIRES_CAPTURE:
            return EventOutcome(f"no change: payment is {payment.status}")
        claimed = obj.captured
        problem = capture_problem(payment, captured=claimed, fee=obj.fee, currency=obj.currency)
        if problem is not None:
            return rejected(problem)
        charge = await self._gateway_charge(payment)
        if charge is None or charge.status != PaymentStatus.SUCCEEDED:
            return rejected("the gateway has not captured this payment")
        problem = capture_problem(payment, captured=charge.amount_captured,
                                  fee=charge.processing_fee, currency=charge.currency)  # fmt: skip
        if problem is not None or charge.amount_captured <= 0:
            return rejected(f"the gateway's record: {problem or 'nothing captured'}")
        await self._record_capture(await self._repo.business(payment.business_id), payment, charge)
        agreed = claimed in (None, charge.amount_captured) and obj.fee in (
            None, charge.processing_fee)  # fmt: skip
        return EventOutcome("capture recorded" if agreed
                            else "capture recorded as the gateway has it")  # fmt: skip

    async def _on_canceled(self, obj: EventObject) -> EventOutcome:
        found = await self._repo.payment_by_charge(obj.id)
        if found is None or found.status != PaymentStatus.REQUIRES_CAPTURE:
            return EventOutcome("no change")
        payment = await self._locked(found.business_id, found.id)
        charge = await self._gateway_charge(payment)
        if charge is None or charge.status != PaymentStatus.CANCELED:
            return rejected("the gateway has not cancelled this hold")
        payment.status = PaymentStatus.CANCELED
        payment.updated_at = self._clock.now()
        return EventOutcome("hold cancelled")

    async def _gateway_charge(self, payment: Payment) -> ChargeResult | None:
        """The payment's charge as the gateway has it (None if the gateway knows none)."""
        acting_for(payment.business_id)
        try:
            return await self._gateway.retrieve_charge(charge_id=str(payment.gateway_charge_id))
        except GatewayInvalidRequest:
            return None

    async def _on_refund(self, obj: EventObject) -> EventOutcome:
        refund = await self._repo.refund_by_gateway_id(obj.id)
        if refund is None:
            return EventOutcome("ignored: unknown refund")
        if not same_amount(obj, amount=refund.amount, currency=refund.currency):
            return rejected("the refund's amount is not ours")
        if obj.status is not None:
            try:
                refund.status = RefundStatus(obj.status)
            except ValueError:
                return rejected(f"a refund is never {obj.status!r}")
        return EventOutcome(f"refund {refund.status}")

    async def _on_payout(self, obj: EventObject, status: PayoutStatus) -> EventOutcome:
        payout = await self._repo.payout_by_gateway_id(obj.id)
        if payout is None:
            return EventOutcome("ignored: unknown payout")
        if not same_amount(obj, amount=payout.amount, currency=payout.currency):
            return rejected("the payout's amount is not ours")
        payout.status = status
        return EventOutcome(f"payout {payout.status}")

    async def _on_account(self, obj: EventObject) -> EventOutcome:
        owner = await self._repo.business_by_account(obj.id)
        if owner is None:
            return EventOutcome("ignored: unknown account")
        # Which account receives a business's charges is the gateway's to say, not the
        # event's: read it back.
        await self.refresh_account(owner)
        return EventOutcome(f"account {owner.connect_status}")

    _EVENTS: ClassVar[dict[str, Callable[[PaymentsService, EventObject],
                                         Awaitable[EventOutcome]]]] = {
        "payment_intent.succeeded": _on_succeeded,
        "payment_intent.canceled": _on_canceled,
        "charge.refund.updated": _on_refund,
        "payout.paid": lambda self, obj: self._on_payout(obj, PayoutStatus.PAID),
        "payout.failed": lambda self, obj: self._on_payout(obj, PayoutStatus.FAILED),
        "account.updated": _on_account,
    }  # fmt: skip
