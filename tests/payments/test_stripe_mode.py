"""The whole API with FAREROOM_GATEWAY=stripe, against localstripe: the same flows as in
sandbox mode, with cards tokenised the way Stripe.js does (straight to Stripe)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from fareroom.app import create_app
from fareroom.bootstrap import Context, bootstrap
from fareroom.config import Settings
from fareroom.gateway.signature import sign
from tests.support.servers import LocalStripe

WHSEC = "whsec_stripe_mode"


@pytest.fixture
async def stripe_api(settings: Settings, clock: Any, localstripe: LocalStripe
                     ) -> AsyncIterator[tuple[httpx.AsyncClient, Context]]:  # fmt: skip
    localstripe.wipe()
    stripe_settings = settings.model_copy(
        update={
            "gateway": "stripe",
            "stripe_secret_key": SecretStr("sk_test_mode"),
            "stripe_api_base": localstripe.url,
            "stripe_webhook_secret": SecretStr(WHSEC),
        }
    )
    ctx = bootstrap(stripe_settings, clock=clock)
    assert ctx.sandbox is None and ctx.gateway.name == "stripe"
    async with ctx.unit_of_work() as s:
        made = await s.accounts.create_business(
            name="Stripe Co",
            owner_email=f"{uuid.uuid4().hex}@example.com",
            owner_password="long password",
        )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {made.api_key}"},
    ) as api:
        yield api, ctx
    await ctx.close()


async def _stripe_js_token(localstripe: LocalStripe, number: str) -> str:
    """What Stripe.js does in the browser: the number goes to Stripe, a pm_ id comes back
    (localstripe wants a secret key here; Stripe.js sends the publishable one)."""
    async with httpx.AsyncClient(
        base_url=localstripe.url, headers={"Authorization": "Bearer sk_test_mode"}
    ) as stripe_js:
        r = await stripe_js.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2035",
                "card[cvc]": "123",
            },
        )
    return str(r.json()["id"])


async def test_the_payment_flow_works_in_stripe_mode(
    stripe_api: tuple[httpx.AsyncClient, Context], localstripe: LocalStripe
) -> None:
    api, _ = stripe_api
    client = (await api.post("/api/v1/clients", json={"name": "S", "email": "s@example.com"})
              ).json()  # fmt: skip
    r = await api.post(
        f"/api/v1/clients/{client['id']}/cards",
        json={"token": await _stripe_js_token(localstripe, "4242424242424242")},
    )
    assert r.status_code == 201 and r.json()["last4"] == "4242"
    hold = await api.post(
        "/api/v1/payments",
        headers={"Idempotency-Key": "s-1"},
        json={"client_id": client["id"], "amount": 10_000, "currency": "EUR", "capture": False},
    )
    assert hold.status_code == 201 and hold.json()["status"] == "requires_capture", hold.text
    pid = hold.json()["id"]
    cap = await api.post(f"/api/v1/payments/{pid}/capture", json={"amount": 8_000})
    assert cap.status_code == 200 and cap.json()["amount_captured"] == 8_000
    assert cap.json()["platform_fee"] == 800
    ref = await api.post(f"/api/v1/payments/{pid}/refunds", json={"amount": 3_000})
    assert ref.status_code == 201
    paid = await api.post(
        "/api/v1/payments", json={"client_id": client["id"], "amount": 2_000, "currency": "EUR"}
    )
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded"
    balance = (await api.get("/api/v1/balance")).json()["balances"][0]
    assert balance["gross"] == 10_000 and balance["refunds"] == 3_000
    log = (await api.get("/api/v1/gateway-requests", params={"limit": 50})).json()["data"]
    assert {g["gateway"] for g in log} == {"stripe"}
    assert [g["operation"] for g in reversed(log)] == [
        "create_customer",
        "attach_card",
        "create_charge",
        "capture",
        "refund",
        "create_charge",
    ]


async def test_declines_come_back_as_402_in_stripe_mode(
    stripe_api: tuple[httpx.AsyncClient, Context], localstripe: LocalStripe
) -> None:
    api, _ = stripe_api
    client = (await api.post("/api/v1/clients", json={"name": "D", "email": "d@example.com"})
              ).json()  # fmt: skip
    r = await api.post(
        f"/api/v1/clients/{client['id']}/cards",
        json={"token": await _stripe_js_token(localstripe, "4000000000000002")},
    )
    assert r.status_code == 402 and r.json()["code"] == "card_declined"
    r = await api.post(
        f"/api/v1/clients/{client['id']}/cards",
        json={"token": await _stripe_js_token(localstripe, "4000000000000341")},
    )
    assert r.status_code == 201
    charge = await api.post(
        "/api/v1/payments", json={"client_id": client["id"], "amount": 2_000, "currency": "EUR"}
    )
    assert charge.status_code == 402
    assert (await api.get("/api/v1/payments")).json()["data"] == []


async def test_stripe_webhooks_are_verified_with_the_stripe_secret(
    stripe_api: tuple[httpx.AsyncClient, Context],
) -> None:
    api, _ = stripe_api
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payout.paid",
            "created": int(time.time()),
            "api_version": "2024-06-20",
            "data": {"object": {"id": "po_unknown", "object": "payout"}},
        }
    ).encode()
    bad = await api.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign("whsec_sandbox", body, int(time.time()))},
    )
    assert bad.status_code == 400 and bad.json()["code"] == "signature_invalid"
    good = await api.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(WHSEC, body, int(time.time()))},
    )
    assert good.status_code == 200 and good.json()["status"] == "ignored: unknown payout"
