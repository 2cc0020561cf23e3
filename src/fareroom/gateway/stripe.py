"""The Stripe adapter: the official SDK through an injected ``StripeClient`` (no global key).

The only module that imports ``stripe``. Charges are PaymentIntents confirmed at once (manual
capture for holds); Connect charges are destination charges with the platform fee as the
application fee; the processing fee is read from the charge's balance transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import stripe

from fareroom.gateway.base import (
    AccountResult,
    CardDetails,
    ChargeRequest,
    ChargeResult,
    GatewayError,
    GatewayEvent,
    GatewayInvalidRequest,
    GatewayMisconfigured,
    GatewayRateLimited,
    GatewayUnavailable,
    IdempotencyKeyInUse,
    PaymentActionRequired,
    PaymentDeclined,
    PayoutResult,
    RefundResult,
    WebhookSignatureInvalid,
    parse_event,
)

T = TypeVar("T")
# One round trip gives the charge and its balance transaction (the real processing fee).
EXPAND = ["latest_charge.balance_transaction"]


def make_client(
    secret_key: str, *, api_base: str | None = None, http_client: Any = None
) -> stripe.StripeClient:
    """No SDK retries: our callers retry with the same idempotency key, and say so in the log."""
    kwargs: dict[str, Any] = {"max_network_retries": 0}
    if http_client is not None:
        kwargs["http_client"] = http_client
    if api_base:
        kwargs["base_addresses"] = {"api": api_base}
    return stripe.StripeClient(secret_key, **kwargs)


def _translate(exc: stripe.StripeError) -> GatewayError:
    code = getattr(exc, "code", None)
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    if isinstance(exc, stripe.CardError):
        err = exc.error
        decline = (err.decline_code if err else None) or code or "generic_decline"
        return PaymentDeclined(message, decline_code=decline, code=code or "card_declined")
    if isinstance(exc, stripe.RateLimitError):
        return GatewayRateLimited(message, code=code)
    if isinstance(exc, stripe.APIConnectionError):
        return GatewayUnavailable(message, code="api_connection_error")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayMisconfigured(message, code=code or "authentication_error")
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyKeyInUse(message)
    if isinstance(exc, stripe.InvalidRequestError):
        return GatewayInvalidRequest(message, code=code or "invalid_request")
    status = getattr(exc, "http_status", None) or 500
    if status >= 500 or isinstance(exc, stripe.APIError):
        return GatewayUnavailable(message, code=code or "api_error")
    return GatewayInvalidRequest(message, code=code or "invalid_request")


def _captured(intent: Any, charge: Any) -> int:
    """Captured amount: the charge's ``amount_captured``, else the intent's
    ``amount_received``; else, for the legacy model (a partial capture refunds the rest, as
    localstripe does), ``amount − amount_refunded`` of a captured charge."""
    for value in (getattr(charge, "amount_captured", None),
                  getattr(intent, "amount_received", None)):  # fmt: skip
        if value:
            return int(value)
    if charge is not None and getattr(charge, "captured", False):
        return int(charge.amount) - int(getattr(charge, "amount_refunded", 0) or 0)
    return 0


class StripeGateway:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient, *, webhook_secret: str | None) -> None:
        self._client = client
        self._webhook_secret = webhook_secret

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    # ------------------------------------------------------------ customers and cards

    async def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str:
        customer = await self._call(
            lambda: self._client.v1.customers.create_async(
                {"email": email, "name": name}, {"idempotency_key": idempotency_key}
            )
        )
        return str(customer.id)

    async def attach_card(
        self, *, customer_id: str, token: str, idempotency_key: str
    ) -> CardDetails:
        """``token`` is a PaymentMethod id made by Stripe.js in the client's browser."""
        pm = await self._call(
            lambda: self._client.v1.payment_methods.attach_async(
                token, {"customer": customer_id}, {"idempotency_key": idempotency_key}
            )
        )
        card = pm.card
        if card is None:
            raise GatewayInvalidRequest("The payment method is not a card.", code="not_a_card")
        return CardDetails(str(pm.id), str(card.brand), str(card.last4), int(card.exp_month),
                           int(card.exp_year), str(card.fingerprint or ""))  # fmt: skip

    async def detach_card(self, *, payment_method_id: str) -> None:
        await self._call(lambda: self._client.v1.payment_methods.detach_async(payment_method_id))

    # ------------------------------------------------------------ charges

    async def _latest_charge(self, intent: Any) -> Any:
        """The intent's charge with its balance transaction (expanded, or fetched)."""
        charge = getattr(intent, "latest_charge", None)
        if isinstance(charge, str):
            charge = await self._call(
                lambda: self._client.v1.charges.retrieve_async(
                    charge, {"expand": ["balance_transaction"]}
                )
            )
        return charge

    async def _result(self, intent: Any) -> ChargeResult:
        status = intent.status
        if status == "requires_action":
            raise PaymentActionRequired("The card requires authentication.")
        if status not in ("requires_capture", "succeeded", "canceled"):
            raise PaymentDeclined(
                f"The payment did not go through ({status}).", decline_code=str(status)
            )
        captured, fee = 0, None
        if status == "succeeded":
            charge = await self._latest_charge(intent)
            captured = _captured(intent, charge)
            bt = getattr(charge, "balance_transaction", None)
            if bt is not None and not isinstance(bt, str) and getattr(bt, "fee", None) is not None:
                fee = int(bt.fee)
        return ChargeResult(
            str(intent.id), status, int(intent.amount), captured, str(intent.currency).upper(), fee
        )

    async def create_charge(self, request: ChargeRequest) -> ChargeResult:
        params: Any = {
            "amount": request.amount, "currency": request.currency.lower(),
            "customer": request.customer_id, "payment_method": request.payment_method_id,
            "confirm": True, "capture_method": "automatic" if request.capture else "manual",
            "description": request.description or None, "metadata": request.metadata,
            "payment_method_types": ["card"],
            "expand": EXPAND,
        }  # fmt: skip
        if request.off_session:
            params["off_session"] = True
        if request.destination_account_id:
            params["transfer_data"] = {"destination": request.destination_account_id}
            if request.application_fee is not None:
                params["application_fee_amount"] = request.application_fee
        params = {k: v for k, v in params.items() if v is not None}
        intent = await self._call(
            lambda: self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        )
        return await self._result(intent)

    async def capture(
        self, *, charge_id: str, amount: int, idempotency_key: str,
        application_fee: int | None = None,
    ) -> ChargeResult:  # fmt: skip
        params: Any = {"amount_to_capture": amount, "expand": EXPAND}
        if application_fee is not None:
            params["application_fee_amount"] = application_fee
        intent = await self._call(
            lambda: self._client.v1.payment_intents.capture_async(
                charge_id, params, {"idempotency_key": idempotency_key}
            )
        )
        return await self._result(intent)

    async def cancel(self, *, charge_id: str, idempotency_key: str) -> ChargeResult:
        intent = await self._call(
            lambda: self._client.v1.payment_intents.cancel_async(
                charge_id, None, {"idempotency_key": idempotency_key}
            )
        )
        return await self._result(intent)

    async def retrieve_charge(self, *, charge_id: str) -> ChargeResult:
        intent = await self._call(
            lambda: self._client.v1.payment_intents.retrieve_async(charge_id, {"expand": EXPAND})
        )
        return await self._result(intent)

    async def refund(
        self, *, charge_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        params: Any = {"payment_intent": charge_id, "amount": amount}
        if reason:
            params["metadata"] = {"reason": reason[:500]}
        refund = await self._call(
            lambda: self._client.v1.refunds.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        )
        return RefundResult(
            str(refund.id), int(refund.amount), str(refund.currency).upper(), str(refund.status)
        )

    # ------------------------------------------------------------ Connect

    @staticmethod
    def _account(acct: Any) -> AccountResult:
        charges, payouts = bool(acct.charges_enabled), bool(acct.payouts_enabled)
        status: Literal["pending", "enabled", "restricted"] = (
            "enabled"
            if charges and payouts
            else ("restricted" if acct.details_submitted else "pending")
        )
        return AccountResult(str(acct.id), status, charges, payouts)

    async def create_account(
        self, *, country: str, email: str, idempotency_key: str
    ) -> AccountResult:
        acct = await self._call(
            lambda: self._client.v1.accounts.create_async(
                {
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {
                        "card_payments": {"requested": True},
                        "transfers": {"requested": True},
                    },
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return self._account(acct)

    async def onboarding_link(self, *, account_id: str, return_url: str) -> str:
        link = await self._call(
            lambda: self._client.v1.account_links.create_async(
                {
                    "account": account_id,
                    "type": "account_onboarding",
                    "return_url": return_url,
                    "refresh_url": return_url,
                }
            )
        )
        return str(link.url)

    async def retrieve_account(self, *, account_id: str) -> AccountResult:
        return self._account(
            await self._call(lambda: self._client.v1.accounts.retrieve_async(account_id))
        )

    async def create_payout(
        self, *, account_id: str | None, amount: int, currency: str, idempotency_key: str
    ) -> PayoutResult:
        options: Any = {"idempotency_key": idempotency_key}
        if account_id:
            options["stripe_account"] = account_id
        payout = await self._call(
            lambda: self._client.v1.payouts.create_async(
                {"amount": amount, "currency": currency.lower()}, options
            )
        )
        arrival = getattr(payout, "arrival_date", None)
        return PayoutResult(
            str(payout.id),
            int(payout.amount),
            str(payout.currency).upper(),
            str(payout.status),
            datetime.fromtimestamp(int(arrival), UTC).date().isoformat() if arrival else None,
        )

    # ------------------------------------------------------------ webhooks

    async def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEvent:
        if not self._webhook_secret:
            raise GatewayMisconfigured(
                "No Stripe webhook secret is configured.", code="webhooks_not_configured"
            )
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", "replace"), signature_header, self._webhook_secret,
                tolerance=300)  # fmt: skip
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureInvalid(str(exc)) from None
        return parse_event(payload)
