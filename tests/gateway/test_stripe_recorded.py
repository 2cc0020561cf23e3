"""The Stripe adapter against recorded Stripe-shaped HTTP responses.

For what localstripe lacks (see the table in test_contract.py): Connect, application fees,
the processing fee from the balance transaction, idempotency replays, state errors and the
mapping of Stripe's errors onto our taxonomy. The responses follow Stripe's API reference;
each test also checks what the adapter sent (form fields, Idempotency-Key, Stripe-Account).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import stripe

from fareroom.gateway.base import (
    ChargeRequest,
    GatewayInvalidRequest,
    GatewayMisconfigured,
    GatewayRateLimited,
    GatewayUnavailable,
    PaymentActionRequired,
    PaymentDeclined,
)
from fareroom.gateway.stripe import StripeGateway, make_client

Reply = tuple[int, dict[str, Any], dict[str, str]]


class RecordedStripe(stripe.HTTPClient):
    """Answers from recorded responses, in order per (method, path); keeps what was sent."""

    name = "recorded"

    def __init__(self, replies: dict[tuple[str, str], list[Reply]]) -> None:
        super().__init__()
        self.replies = replies
        self.sent: list[dict[str, Any]] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the adapter must use the async client")

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        path = urlparse(url).path
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        query = urlparse(url).query
        self.sent.append(
            {
                "method": method.upper(),
                "path": path,
                "headers": dict(headers),
                "form": {k: v[0] for k, v in parse_qs(body or query).items()},
            }
        )
        queue = self.replies[(method.upper(), path)]
        status, payload, extra = queue.pop(0) if len(queue) > 1 else queue[0]
        return json.dumps(payload).encode(), status, {"request-id": "req_rec", **extra}

    async def close_async(self) -> None:
        return None


def gateway(replies: dict[tuple[str, str], list[Reply]]) -> tuple[StripeGateway, RecordedStripe]:
    http = RecordedStripe(replies)
    return StripeGateway(
        make_client("sk_test_recorded", http_client=http), webhook_secret="whsec_x"
    ), http


def ok(body: dict[str, Any], **headers: str) -> list[Reply]:
    return [(200, body, headers)]


def error(status: int, **err: Any) -> list[Reply]:
    return [(status, {"error": err}, {})]


ACCOUNT = {
    "id": "acct_1PgDemo",
    "object": "account",
    "type": "express",
    "country": "DE",
    "charges_enabled": False,
    "payouts_enabled": False,
    "details_submitted": False,
}
BALANCE_TXN = {
    "id": "txn_1PgDemo",
    "object": "balance_transaction",
    "amount": 10_000,
    "fee": 320,
    "net": 9_680,
    "currency": "eur",
}
CHARGE = {
    "id": "ch_1PgDemo",
    "object": "charge",
    "amount": 10_000,
    "amount_captured": 10_000,
    "amount_refunded": 0,
    "captured": True,
    "currency": "eur",
    "balance_transaction": BALANCE_TXN,
}


def intent(status: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": "pi_1PgDemo",
        "object": "payment_intent",
        "amount": 10_000,
        "amount_received": 10_000 if status == "succeeded" else 0,
        "currency": "eur",
        "status": status,
        "latest_charge": CHARGE if status == "succeeded" else None,
        "application_fee_amount": 1_000,
        "transfer_data": {"destination": "acct_1PgDemo"},
    }
    body.update(extra)
    return body


REQUEST = ChargeRequest(
    amount=10_000,
    currency="EUR",
    customer_id="cus_1",
    payment_method_id="pm_1",
    capture=True,
    idempotency_key="payment:pay_1:create",
    destination_account_id="acct_1PgDemo",
    application_fee=1_000,
)


async def test_connect_account_onboarding_and_status() -> None:
    enabled = {
        **ACCOUNT,
        "charges_enabled": True,
        "payouts_enabled": True,
        "details_submitted": True,
    }
    gw, http = gateway(
        {
            ("POST", "/v1/accounts"): ok(ACCOUNT),
            ("POST", "/v1/account_links"): ok(
                {
                    "object": "account_link",
                    "expires_at": 1,
                    "url": "https://connect.stripe.com/setup/e/x",
                }
            ),
            ("GET", "/v1/accounts/acct_1PgDemo"): ok(enabled),
        }
    )
    account = await gw.create_account(
        country="DE", email="o@x.test", idempotency_key="business:biz_1:account"
    )
    assert (account.id, account.status, account.charges_enabled) == (
        "acct_1PgDemo",
        "pending",
        False,
    )
    sent = http.sent[0]
    assert sent["form"]["type"] == "express" and sent["form"]["country"] == "DE"
    assert sent["form"]["capabilities[transfers][requested]"] == "true"
    assert sent["headers"]["Idempotency-Key"] == "business:biz_1:account"
    link = await gw.onboarding_link(account_id="acct_1PgDemo", return_url="https://x/d")
    assert link.startswith("https://connect.stripe.com/")
    assert http.sent[1]["form"]["type"] == "account_onboarding"
    assert (await gw.retrieve_account(account_id="acct_1PgDemo")).status == "enabled"


async def test_destination_charge_sends_the_application_fee_and_reads_the_real_fee() -> None:
    gw, http = gateway({("POST", "/v1/payment_intents"): ok(intent("succeeded"))})
    result = await gw.create_charge(REQUEST)
    assert (result.status, result.amount_captured, result.processing_fee) == (
        "succeeded",
        10_000,
        320,
    )
    form = http.sent[0]["form"]
    assert form["transfer_data[destination]"] == "acct_1PgDemo"
    assert form["application_fee_amount"] == "1000"
    assert form["capture_method"] == "automatic" and form["confirm"] == "true"
    assert form["expand[0]"] == "latest_charge.balance_transaction"
    assert http.sent[0]["headers"]["Idempotency-Key"] == "payment:pay_1:create"


async def test_capture_sends_the_fee_for_the_captured_amount() -> None:
    captured = intent(
        "succeeded", amount_received=8_000, latest_charge={**CHARGE, "amount_captured": 8_000}
    )
    gw, http = gateway({("POST", "/v1/payment_intents/pi_1PgDemo/capture"): ok(captured)})
    result = await gw.capture(
        charge_id="pi_1PgDemo",
        amount=8_000,
        application_fee=800,
        idempotency_key="payment:pay_1:capture",
    )
    assert result.amount_captured == 8_000
    assert http.sent[0]["form"]["amount_to_capture"] == "8000"
    assert http.sent[0]["form"]["application_fee_amount"] == "800"


async def test_an_idempotent_replay_returns_the_first_result() -> None:
    gw, http = gateway(
        {
            ("POST", "/v1/payment_intents"): [
                (200, intent("succeeded"), {}),
                (200, intent("succeeded"), {"Idempotent-Replayed": "true"}),
            ]
        }
    )
    first = await gw.create_charge(REQUEST)
    second = await gw.create_charge(REQUEST)
    assert first == second
    assert {s["headers"]["Idempotency-Key"] for s in http.sent} == {"payment:pay_1:create"}


async def test_a_key_reused_with_other_parameters_is_refused() -> None:
    gw, _ = gateway(
        {
            ("POST", "/v1/payment_intents"): error(
                400,
                type="idempotency_error",
                message="Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
            )
        }
    )
    with pytest.raises(GatewayInvalidRequest) as err:
        await gw.create_charge(REQUEST)
    assert err.value.code == "idempotency_key_in_use"


async def test_state_errors_are_invalid_requests() -> None:
    gw, _ = gateway(
        {
            ("POST", "/v1/payment_intents/pi_1PgDemo/capture"): error(
                400,
                type="invalid_request_error",
                code="payment_intent_unexpected_state",
                message="This PaymentIntent could not be captured because it has a status of "
                "canceled.",
            ),
            ("POST", "/v1/refunds"): error(
                400,
                type="invalid_request_error",
                code="charge_already_refunded",
                message="Charge ch_1PgDemo has already been refunded.",
            ),
        }
    )
    with pytest.raises(GatewayInvalidRequest) as err:
        await gw.capture(charge_id="pi_1PgDemo", amount=100, idempotency_key="k")
    assert err.value.code == "payment_intent_unexpected_state"
    with pytest.raises(GatewayInvalidRequest) as err:
        await gw.refund(charge_id="pi_1PgDemo", amount=100, idempotency_key="k2")
    assert err.value.code == "charge_already_refunded"


@pytest.mark.parametrize(("status", "body", "expected", "code"), [
    (402, {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
           "message": "Your card has insufficient funds."}, PaymentDeclined, "card_declined"),
    (429, {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"},
     GatewayRateLimited, "rate_limit"),
    (500, {"type": "api_error", "message": "Something went wrong"}, GatewayUnavailable,
     "api_error"),
    (401, {"type": "invalid_request_error", "message": "Invalid API Key provided"},
     GatewayMisconfigured, "authentication_error"),
])  # fmt: skip
async def test_stripe_errors_map_onto_the_taxonomy(
    status: int, body: dict[str, Any], expected: type, code: str
) -> None:
    gw, _ = gateway({("POST", "/v1/payment_intents"): error(status, **body)})
    with pytest.raises(expected) as err:
        await gw.create_charge(REQUEST)
    assert err.value.code == code
    if expected is PaymentDeclined:
        assert err.value.decline_code == "insufficient_funds"


async def test_an_intent_that_needs_authentication_asks_for_it() -> None:
    gw, _ = gateway({("POST", "/v1/payment_intents"): ok(intent("requires_action"))})
    with pytest.raises(PaymentActionRequired):
        await gw.create_charge(REQUEST)


async def test_a_payout_is_made_on_the_connected_account() -> None:
    gw, http = gateway(
        {
            ("POST", "/v1/payouts"): ok(
                {
                    "id": "po_1PgDemo",
                    "object": "payout",
                    "amount": 5_000,
                    "currency": "eur",
                    "status": "pending",
                }
            )
        }
    )
    payout = await gw.create_payout(
        account_id="acct_1PgDemo", amount=5_000, currency="EUR", idempotency_key="payout:po_1"
    )
    assert (payout.id, payout.amount, payout.currency) == ("po_1PgDemo", 5_000, "EUR")
    assert http.sent[0]["headers"]["Stripe-Account"] == "acct_1PgDemo"
    assert http.sent[0]["form"] == {"amount": "5000", "currency": "eur"}
