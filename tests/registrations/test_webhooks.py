"""Payment events for registrations, through the webhook inbox (signed, verified against the
gateway): a hold captured or released at the gateway without Fareroom — sent twice, and
after a forged event in the wrong order — leaves each registration in the right state,
once, and the ledger with one capture."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fareroom.bootstrap import Context
from fareroom.gateway.signature import sign
from tests.registrations.conftest import Paid


async def _charge_of(ctx: Context, business_id: str, payment_id: str) -> str:
    async with ctx.unit_of_work(business_id) as s:
        return str((await s.payments.get(business_id, payment_id)).payment.gateway_charge_id)


async def _post(ctx: Context, http: Any, event_type: str, obj: dict[str, Any],
                event_id: str | None = None) -> Any:  # fmt: skip
    assert ctx.sandbox is not None
    body = json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex}", "type": event_type,
                       "created": int(time.time()), "data": {"object": obj}}).encode()  # fmt: skip
    secret = await ctx.sandbox.webhook_secret()
    signature = sign(secret, body, int(time.time()))
    return await http.post("/webhooks/stripe", content=body,
                           headers={"Stripe-Signature": signature})  # fmt: skip


async def test_holds_captured_or_released_at_the_gateway_settle_registrations_once(
    paid: Paid, http: Any
) -> None:
    ctx = paid.ctx
    assert ctx.sandbox is not None
    meeting = await paid.meeting(days=3, no_show_hold=True, price=2_000)
    ada = await paid.registered(meeting["code"])
    bob = await paid.registered(meeting["code"], name="Bob", email="bob@example.com")
    ada_charge = await _charge_of(ctx, paid.t.id, ada["payment_id"])
    bob_charge = await _charge_of(ctx, paid.t.id, bob["payment_id"])

    # out of order and forged: "released" for Ada's hold, which the gateway still holds
    r = await _post(ctx, http, "payment_intent.canceled", {"id": ada_charge})
    assert r.status_code == 422 and r.json()["code"] == "event_rejected", r.text
    # at the gateway (its dashboard): Ada's hold captured, Bob's released
    await ctx.sandbox.capture(charge_id=ada_charge, amount=2_000, idempotency_key="outside-1")
    await ctx.sandbox.cancel(charge_id=bob_charge, idempotency_key="outside-2")
    await ctx.sandbox.deliver_events()
    # the same events again, by id: stored once, applied once
    captured = {"id": ada_charge, "amount_captured": 2_000, "currency": "eur"}
    again = await _post(ctx, http, "payment_intent.succeeded", captured)
    assert again.status_code == 200, again.text
    assert await ctx.expire_registrations() == 2  # the worker's sweep follows the payments
    assert await ctx.expire_registrations() == 0  # and has nothing more to do
    assert (await paid.get(ada["id"]))["status"] == "no_show"
    bob_now = await paid.get(bob["id"])
    assert bob_now["status"] == "held" and "released at the gateway" in bob_now["failure"]
    assert (await paid.payment(ada["payment_id"]))["amount_captured"] == 2_000
    balance = await paid.t.balance()
    assert balance["gross"] == 2_000  # one capture in the ledger
