"""The webhook inbox: signed, stored once, applied idempotently and in any order, and never
moving money on an event's word alone. After every test here the ledger, our payments and
the sandbox's own records of the business agree (``tests.support.reconcile``)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from fareroom.app import create_app
from fareroom.bootstrap import Context, bootstrap
from fareroom.config import Settings
from fareroom.gateway.signature import sign
from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in


async def _secret(ctx: Context) -> str:
    assert ctx.sandbox is not None
    return await ctx.sandbox.webhook_secret()


def _event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex}", "type": event_type,
         "created": int(time.time()), "data": {"object": obj}}
    ).encode()  # fmt: skip


async def _post(http: Any, body: bytes, secret: str) -> Any:
    return await http.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(secret, body, int(time.time()))},
    )


async def _hold(tenant: Tenant, ctx: Context, amount: int = 1_000) -> tuple[dict, str]:
    """A hold placed through the API, and its charge's id at the gateway."""
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], amount, capture=False)).json()
    async with ctx.unit_of_work(tenant.id) as s:
        charge_id = (await s.payments.get(tenant.id, hold["id"])).payment.gateway_charge_id
    return hold, str(charge_id)


async def _payment(tenant: Tenant, payment_id: str) -> dict:
    return dict((await tenant.api.get(f"/api/v1/payments/{payment_id}")).json())


async def test_a_bad_signature_is_refused_and_nothing_is_stored(http: Any, ctx: Context) -> None:
    body = _event("payout.paid", {"id": "po_x"}, f"evt_bad_sig_{uuid.uuid4().hex}")
    r = await _post(http, body, secret="whsec_wrong")
    assert r.status_code == 400 and r.json()["code"] == "signature_invalid"
    r = await http.post("/webhooks/stripe", content=body)
    assert r.status_code == 400
    ok = await _post(http, body, await _secret(ctx))
    assert ok.status_code == 200 and ok.json()["status"] == "ignored: unknown payout"


async def test_no_public_constant_signs_webhooks_and_every_process_has_the_same_secret(
    http: Any, ctx: Context, settings: Settings
) -> None:
    """No secret is configured in the suite: the installation made its own, kept in the
    sandbox's store, so another process of the same installation verifies with it too."""
    assert settings.sandbox_webhook_secret is None
    body = _event("payout.paid", {"id": "po_x"})
    r = await _post(http, body, secret="whsec_sandbox")
    assert r.status_code == 400 and r.json()["code"] == "signature_invalid"
    secret = await _secret(ctx)
    assert secret.startswith("whsec_") and len(secret) > 40
    other = bootstrap(settings, clock=ctx.clock)
    try:
        assert other.sandbox is not None and await other.sandbox.webhook_secret() == secret
    finally:
        await other.close()


@pytest.mark.parametrize("claim", [
    {"amount_captured": 99_999_999, "fee": 0},
    {"amount_captured": -1_000},
    {"amount_captured": 1_000, "currency": "usd"},
    {"amount_captured": 1_000, "fee": 5_000},
])  # fmt: skip
async def test_a_signed_capture_outside_the_hold_moves_no_money(
    tenant: Tenant, ctx: Context, http: Any, claim: dict[str, Any]
) -> None:
    hold, charge_id = await _hold(tenant, ctx)
    r = await _post(http, _event("payment_intent.succeeded", {"id": charge_id, **claim}),
                    await _secret(ctx))  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "event_rejected" and "nothing was changed" in r.json()["detail"]
    p = await _payment(tenant, hold["id"])
    assert (p["status"], p["amount_captured"]) == ("requires_capture", 0)
    assert (await tenant.balance())["available"] == 0
    payout = await tenant.api.post("/api/v1/payouts", json={"amount": 99_999_999})
    assert (payout.status_code, payout.json()["code"]) == (409, "insufficient_funds")
    assert (await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture")).status_code == 200


async def test_a_capture_the_gateway_never_made_is_not_recorded(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    hold, charge_id = await _hold(tenant, ctx)
    body = _event("payment_intent.succeeded", {"id": charge_id, "amount_captured": 1_000})
    r = await _post(http, body, await _secret(ctx))
    assert r.status_code == 422 and r.json()["code"] == "event_rejected"
    again = await _post(http, body, await _secret(ctx))
    assert again.status_code == 422  # a rejected event stays rejected
    assert (await _payment(tenant, hold["id"]))["status"] == "requires_capture"
    assert (await tenant.balance())["gross"] == 0


async def test_a_capture_is_recorded_as_the_gateway_has_it_not_as_the_event_says(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    hold, charge_id = await _hold(tenant, ctx, 5_000)
    captured = await ctx.gateway.capture(
        charge_id=charge_id, amount=3_000, idempotency_key=f"payment:{hold['id']}:capture"
    )
    claim = {"id": charge_id, "amount_captured": 5_000, "fee": 1}
    r = await _post(http, _event("payment_intent.succeeded", claim), await _secret(ctx))
    assert r.status_code == 200 and r.json()["status"] == "capture recorded as the gateway has it"
    p = await _payment(tenant, hold["id"])
    assert (p["status"], p["amount_captured"]) == ("succeeded", 3_000)
    assert p["processing_fee"] == captured.processing_fee
    assert (await tenant.balance())["gross"] == 3_000


async def test_a_forged_cancel_leaves_the_hold_in_place(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    hold, charge_id = await _hold(tenant, ctx)
    r = await _post(http, _event("payment_intent.canceled", {"id": charge_id}),
                    await _secret(ctx))  # fmt: skip
    assert r.status_code == 422 and r.json()["code"] == "event_rejected"
    done = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture")
    assert done.status_code == 200 and done.json()["amount_captured"] == 1_000


async def test_an_account_update_is_read_back_from_the_gateway(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    start = (await tenant.api.post("/api/v1/connect/onboarding", json={})).json()
    forged = {"id": start["account_id"], "status": "enabled", "charges_enabled": True,
              "payouts_enabled": True}  # fmt: skip
    r = await _post(http, _event("account.updated", forged), await _secret(ctx))
    assert r.status_code == 200 and r.json()["status"] == "account pending"
    assert (await tenant.api.get("/api/v1/connect")).json()["status"] == "pending"


@pytest.mark.parametrize("obj", [
    {"amount_captured": "abc"},
    {"amount_captured": 1_000, "fee": [1]},
    {"amount_captured": 10.5},
    {"amount_captured": True},
    {"currency": 978},
])  # fmt: skip
async def test_a_signed_event_with_malformed_amounts_is_a_400_and_stores_nothing(
    tenant: Tenant, ctx: Context, http: Any, obj: dict[str, Any]
) -> None:
    hold, charge_id = await _hold(tenant, ctx)
    event_id = f"evt_{uuid.uuid4().hex}"
    r = await _post(http, _event("payment_intent.succeeded", {"id": charge_id, **obj}, event_id),
                    await _secret(ctx))  # fmt: skip
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_event" and r.json()["detail"]
    assert (await _payment(tenant, hold["id"]))["status"] == "requires_capture"
    unknown = _event("payout.paid", {"id": "po_x"}, event_id)  # the id was not taken
    assert (await _post(http, unknown, await _secret(ctx))).status_code == 200


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1, 2]",
    b'{"id": "evt_1", "type": "payout.paid", "data": {"object": [1]}}',
    b'{"id": 5, "type": "payout.paid", "data": {"object": {"id": "po_x"}}}',
    b'{"id": "evt_1", "type": "payout.paid", "data": {"object": {"id": 7}}}',
])  # fmt: skip
async def test_a_signed_body_that_is_no_event_is_a_400(
    http: Any, ctx: Context, body: bytes
) -> None:
    r = await _post(http, body, await _secret(ctx))
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_event"


async def test_stripe_mode_without_a_webhook_secret_refuses_webhooks(
    settings: Settings, ctx: Context
) -> None:
    stripe = bootstrap(settings.model_copy(update={
        "gateway": "stripe", "stripe_secret_key": SecretStr("sk_test_none"),
        "stripe_webhook_secret": None}), clock=ctx.clock)  # fmt: skip
    body = _event("payout.paid", {"id": "po_x"})
    try:
        transport = httpx.ASGITransport(app=create_app(stripe))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            for secret in ("", "whsec_sandbox"):
                r = await _post(api, body, secret)
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "webhooks_not_configured"
    finally:
        await stripe.close()


async def test_a_capture_the_api_never_recorded_is_completed_by_its_event(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    """The gateway captured, our write was lost: the webhook finishes the job, once."""
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    async with ctx.unit_of_work(tenant.id) as s:
        charge_id = (await s.payments.get(tenant.id, hold["id"])).payment.gateway_charge_id
    result = await ctx.gateway.capture(
        charge_id=str(charge_id), amount=5_000, idempotency_key=f"payment:{hold['id']}:capture"
    )
    obj = {"id": result.id, "amount_captured": 5_000, "fee": result.processing_fee}
    body = _event("payment_intent.succeeded", obj, f"evt_cap_{hold['id']}")
    secret = await _secret(ctx)
    first = await _post(http, body, secret)
    assert first.json()["status"] == "capture recorded"
    duplicate = await _post(http, body, secret)
    assert duplicate.json()["status"] == "duplicate"
    late_cancel = await _post(
        http, _event("payment_intent.canceled", {"id": result.id}, f"evt_can_{hold['id']}"),
        secret)  # fmt: skip
    assert late_cancel.json()["status"] == "no change"
    p = (await tenant.api.get(f"/api/v1/payments/{hold['id']}")).json()
    assert p["status"] == "succeeded" and p["amount_captured"] == 5_000
    assert (await tenant.balance())["gross"] == 5_000


async def test_sandbox_events_reach_the_inbox_once(tenant: Tenant, ctx: Context) -> None:
    assert ctx.sandbox is not None
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 3_000)).json()
    await tenant.api.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 500})
    assert await ctx.sandbox.deliver_events() >= 2
    assert await ctx.sandbox.deliver_events() == 0
    p = (await tenant.api.get(f"/api/v1/payments/{paid['id']}")).json()
    assert p["amount_captured"] == 3_000 and p["refunds"][0]["status"] == "succeeded"
    assert (await tenant.balance())["gross"] == 3_000


async def test_connect_onboarding_enables_the_account_and_destination_charges(
    tenant: Tenant, http: Any
) -> None:
    r = await tenant.api.post("/api/v1/connect/onboarding", json={})
    assert r.status_code == 200, r.text
    start = r.json()
    assert start["status"] == "pending" and start["account_id"].startswith("acct_")
    await sign_in(http, tenant.owner_email, tenant.password)
    page = await http.get(start["onboarding_url"].replace("http://testserver", ""))
    assert page.status_code == 200 and "Complete onboarding" in page.text
    done = await http.post(
        f"/sandbox/connect/{start['account_id']}",
        data={"return_url": "/dashboard", "csrf": form_token(page.text)},
    )
    assert done.status_code == 303
    assert (await tenant.api.get("/api/v1/connect")).json()["status"] == "enabled"
    client = await tenant.client()
    await tenant.pay(client["id"], 10_000)
    log = (await tenant.api.get("/api/v1/gateway-requests")).json()["data"]
    charge = next(g for g in log if g["operation"] == "create_charge")
    summary = json.loads(charge["request_summary"])
    assert summary["destination_account_id"] == start["account_id"]
    assert summary["application_fee"] == 1_000
