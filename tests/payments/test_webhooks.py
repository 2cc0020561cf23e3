"""The webhook inbox: signed, stored once, applied idempotently and in any order."""

from __future__ import annotations

import json
import time
from typing import Any

from fareroom.bootstrap import Context
from fareroom.gateway.signature import sign
from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in

SECRET = "whsec_sandbox"


def _event(event_type: str, obj: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {"id": event_id, "type": event_type, "created": int(time.time()), "data": {"object": obj}}
    ).encode()


async def _post(http: Any, body: bytes, secret: str = SECRET) -> Any:
    return await http.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(secret, body, int(time.time()))},
    )


async def test_a_bad_signature_is_refused_and_nothing_is_stored(http: Any) -> None:
    body = _event("payout.paid", {"id": "po_x"}, "evt_bad_sig")
    r = await _post(http, body, secret="whsec_wrong")
    assert r.status_code == 400 and r.json()["code"] == "signature_invalid"
    r = await http.post("/webhooks/stripe", content=body)
    assert r.status_code == 400
    ok = await _post(http, body)
    assert ok.status_code == 200 and ok.json()["status"] == "ignored: unknown payout"


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
    first = await _post(http, body)
    assert first.json()["status"] == "capture recorded"
    duplicate = await _post(http, body)
    assert duplicate.json()["status"] == "duplicate"
    late_cancel = await _post(
        http, _event("payment_intent.canceled", {"id": result.id}, f"evt_can_{hold['id']}")
    )
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
