"""The payment gateway port: plain request/result types and one error taxonomy.

Every adapter (sandbox, stripe) implements ``PaymentGateway``. Callers pass idempotency keys
derived from their own ids, so a retried call never moves money twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from fareroom.kit.errors import (
    BadGateway,
    FareroomError,
    PaymentFailed,
    ServiceUnavailable,
    ValidationFailed,
)

# ---------------------------------------------------------------- errors


class GatewayError(Exception):
    """Base of the taxonomy. ``code`` is the gateway's machine-readable reason."""

    retryable = False
    default_code: ClassVar[str | None] = None  # the code of a leaf that always has one

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class PaymentDeclined(GatewayError):
    """Show the client; do not retry the same card. ``decline_code`` as Stripe names it."""

    def __init__(self, message: str, *, decline_code: str, code: str = "card_declined") -> None:
        super().__init__(message, code=code)
        self.decline_code = decline_code


class PaymentActionRequired(GatewayError):
    """The card needs authentication (3-D Secure) by the client in the browser."""

    default_code = "authentication_required"


class GatewayInvalidRequest(GatewayError):
    """The gateway refused the request itself (unknown token, capture above the hold, …)."""


class ResourceMissing(GatewayInvalidRequest):
    default_code = "resource_missing"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.")


class IdempotencyKeyInUse(GatewayInvalidRequest):
    """The key was used before for a request with other parameters."""

    default_code = "idempotency_key_in_use"


class WebhookSignatureInvalid(GatewayInvalidRequest):
    default_code = "signature_invalid"


class GatewayUnavailable(GatewayError):
    """Timeout or server error: retry with the same idempotency key."""

    retryable = True


class GatewayTimeout(GatewayUnavailable):
    """No answer in time: the gateway may or may not have acted (the retry tells)."""

    default_code = "timeout"


class GatewayRateLimited(GatewayUnavailable):
    """429: slow down and retry with the same idempotency key."""

    default_code = "rate_limit"


class GatewayMisconfigured(GatewayError):
    """Bad keys, missing connected account, …: an operator must act."""


# ---------------------------------------------------------------- data

ChargeStatus = Literal["requires_capture", "succeeded", "canceled"]


@dataclass(frozen=True, slots=True)
class CardDetails:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    amount: int
    currency: str
    customer_id: str
    payment_method_id: str
    capture: bool
    idempotency_key: str
    description: str = ""
    off_session: bool = False
    destination_account_id: str | None = None
    application_fee: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    id: str
    status: ChargeStatus
    amount: int
    amount_captured: int
    currency: str
    processing_fee: int | None = None  # known once captured


@dataclass(frozen=True, slots=True)
class RefundResult:
    id: str
    amount: int
    currency: str
    status: str


@dataclass(frozen=True, slots=True)
class AccountResult:
    id: str
    status: Literal["pending", "enabled", "restricted"]
    charges_enabled: bool
    payouts_enabled: bool


@dataclass(frozen=True, slots=True)
class PayoutResult:
    id: str
    amount: int
    currency: str
    status: str
    arrival_date: str | None = None  # ISO date the money is expected in the bank


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    id: str
    type: str
    object_id: str
    data: dict[str, Any]


# ---------------------------------------------------------------- the port


class PaymentGateway(Protocol):
    name: str

    async def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str: ...

    async def attach_card(
        self, *, customer_id: str, token: str, idempotency_key: str
    ) -> CardDetails: ...

    async def detach_card(self, *, payment_method_id: str) -> None: ...

    async def create_charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def capture(
        self, *, charge_id: str, amount: int, idempotency_key: str,
        application_fee: int | None = None,
    ) -> ChargeResult: ...  # fmt: skip

    async def cancel(self, *, charge_id: str, idempotency_key: str) -> ChargeResult: ...

    async def retrieve_charge(self, *, charge_id: str) -> ChargeResult:
        """The charge as the gateway holds it now (what a webhook's claims are checked
        against); ``GatewayInvalidRequest`` when there is no such charge."""
        ...

    async def refund(
        self, *, charge_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult: ...

    async def create_account(
        self, *, country: str, email: str, idempotency_key: str
    ) -> AccountResult: ...

    async def onboarding_link(self, *, account_id: str, return_url: str) -> str: ...

    async def retrieve_account(self, *, account_id: str) -> AccountResult: ...

    async def create_payout(
        self, *, account_id: str | None, amount: int, currency: str, idempotency_key: str
    ) -> PayoutResult: ...

    async def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEvent:
        """Verify the signature and read the event's envelope; ``GatewayInvalidRequest``
        for a bad signature or body, ``GatewayMisconfigured`` when webhooks have no
        secret to be verified with."""
        ...


def parse_event(payload: bytes) -> GatewayEvent:
    """An event's envelope from its (verified) JSON body: an id, a type, an object."""
    try:
        body = json.loads(payload)
        obj = body["data"]["object"]
        event_id, event_type = body["id"], body["type"]
    except (ValueError, KeyError, TypeError):
        obj = event_id = event_type = None
    if not (isinstance(obj, dict) and isinstance(event_id, str) and isinstance(event_type, str)
            and 0 < len(event_id) <= 80 and 0 < len(event_type) <= 80):  # fmt: skip
        raise GatewayInvalidRequest(
            "The body is not an event: JSON with a string 'id' and 'type' and an object "
            "in 'data.object'.", code="malformed_event")  # fmt: skip
    return GatewayEvent(event_id, event_type, str(obj.get("id", "")), obj)


def as_fareroom_error(exc: GatewayError) -> FareroomError:
    """Map the gateway taxonomy onto our API's errors (status, code, a sentence)."""
    if isinstance(exc, PaymentDeclined):
        return PaymentFailed(
            exc.message, code=exc.code or "card_declined", decline_code=exc.decline_code
        )
    if isinstance(exc, PaymentActionRequired):
        return PaymentFailed(exc.message, code="authentication_required")
    if isinstance(exc, GatewayUnavailable):
        return ServiceUnavailable(
            "The payment gateway did not answer; retry with the same Idempotency-Key.",
            code="gateway_rate_limited" if isinstance(exc, GatewayRateLimited)
            else "gateway_unavailable")  # fmt: skip
    if isinstance(exc, GatewayMisconfigured):
        return BadGateway(exc.message, code="gateway_misconfigured")
    return ValidationFailed(exc.message, code=exc.code or "gateway_invalid_request")
