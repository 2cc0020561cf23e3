"""The payments API end to end, through HTTP, on the sandbox gateway."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant


async def test_charge_now_records_fees_and_credits_the_business(tenant: Tenant) -> None:
    client = await tenant.client()
    r = await tenant.pay(client["id"], 10_000, category="service")
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["status"] == "succeeded"
    assert (p["amount_captured"], p["platform_fee"], p["processing_fee"]) == (10_000, 1_000, 320)
    assert p["net"] == 8_680
    b = await tenant.balance()
    assert b["available"] == 8_680
    assert (b["gross"], b["platform_fees"], b["processing_fees"]) == (10_000, 1_000, 320)


async def test_goods_pay_four_percent(tenant: Tenant) -> None:
    client = await tenant.client()
    p = (await tenant.pay(client["id"], 2_500, category="goods")).json()
    assert p["platform_fee"] == 100
    assert p["processing_fee"] == 103  # 72.5 + 30 = 102.5 → 103, rounded once


async def test_hold_then_partial_capture_then_partial_refunds(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 10_000, capture=False)).json()
    assert hold["status"] == "requires_capture" and hold["amount_captured"] == 0
    assert (await tenant.balance())["available"] == 0

    r = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture", json={"amount": 8_000})
    assert r.status_code == 200, r.text
    assert r.json()["amount_captured"] == 8_000 and r.json()["platform_fee"] == 800

    again = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture", json={})
    assert again.status_code == 409 and again.json()["code"] == "payment_not_capturable"
    assert again.json()["status"] == 409 and again.json()["payment_status"] == "succeeded"

    for amount in (3_000, 4_000):
        r = await tenant.api.post(
            f"/api/v1/payments/{hold['id']}/refunds", json={"amount": amount, "reason": "partial"}
        )
        assert r.status_code == 201, r.text
    too_much = await tenant.api.post(
        f"/api/v1/payments/{hold['id']}/refunds", json={"amount": 1_001}
    )
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "amount_exceeds_refundable"
    assert too_much.json()["refundable"] == 1_000
    rest = await tenant.api.post(f"/api/v1/payments/{hold['id']}/refunds", json={})
    assert rest.status_code == 201 and rest.json()["amount"] == 1_000

    p = (await tenant.api.get(f"/api/v1/payments/{hold['id']}")).json()
    assert p["amount_refunded"] == 8_000 and len(p["refunds"]) == 3
    net_at_capture = 8_000 - 800 - 262
    assert p["net"] == net_at_capture - 8_000
    b = await tenant.balance()
    assert b["refunds"] == 8_000 and b["available"] == net_at_capture - 8_000


async def test_cancelled_hold_moves_no_money(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    r = await tenant.api.post(f"/api/v1/payments/{hold['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert (await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture")).status_code == 409
    assert (await tenant.api.post(f"/api/v1/payments/{hold['id']}/refunds")).status_code == 409
    assert (await tenant.balance())["available"] == 0


async def test_capture_above_the_hold_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    r = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture", json={"amount": 5_001})
    assert r.status_code == 422 and r.json()["code"] == "amount_exceeds_hold"
    p = (await tenant.api.get(f"/api/v1/payments/{hold['id']}")).json()
    assert p["status"] == "requires_capture" and p["amount_captured"] == 0


async def test_lists_are_paginated_newest_first(tenant: Tenant) -> None:
    client = await tenant.client()
    made = [(await tenant.pay(client["id"], 1_000 + i)).json()["id"] for i in range(5)]
    first = (await tenant.api.get("/api/v1/payments", params={"limit": 2})).json()
    assert [p["id"] for p in first["data"]] == made[::-1][:2] and first["has_more"]
    second = (
        await tenant.api.get(
            "/api/v1/payments", params={"limit": 2, "starting_after": first["next_starting_after"]}
        )
    ).json()
    assert [p["id"] for p in second["data"]] == made[::-1][2:4]
    bad = await tenant.api.get("/api/v1/payments", params={"limit": 1000})
    assert bad.status_code == 422


async def test_payout_is_limited_to_the_available_balance(tenant: Tenant) -> None:
    client = await tenant.client()
    await tenant.pay(client["id"], 10_000)
    too_much = await tenant.api.post("/api/v1/payouts", json={"amount": 8_681})
    assert too_much.status_code == 409 and too_much.json()["code"] == "insufficient_funds"
    ok = await tenant.api.post("/api/v1/payouts", json={"amount": 8_000})
    assert ok.status_code == 201 and ok.json()["status"] == "in_transit"
    assert ok.json()["arrives_on"] is not None
    b = await tenant.balance()
    assert b["available"] == 680 and b["payouts"] == 8_000
    listed = (await tenant.api.get("/api/v1/payouts")).json()["data"]
    assert [p["amount"] for p in listed] == [8_000]


async def test_every_gateway_call_is_in_the_request_log(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture")
    declined_client = await tenant.client("Bea", number=None)
    r = await tenant.api.post(
        f"/api/v1/clients/{declined_client['id']}/cards",
        json={"token": await tenant.token("4000000000000002")},
    )
    assert r.status_code == 402
    log: list[dict[str, Any]] = (
        await tenant.api.get("/api/v1/gateway-requests", params={"limit": 100})
    ).json()["data"]
    ops = [g["operation"] for g in reversed(log)]
    assert ops == [
        "create_customer",
        "attach_card",
        "create_charge",
        "capture",
        "create_customer",
        "attach_card",
    ]
    declined = log[0]
    assert declined["outcome"] == "error" and declined["decline_code"] == "generic_decline"
    capture = log[2]
    assert capture["idempotency_key"] == f"payment:{hold['id']}:capture"
    assert all(g["latency_ms"] >= 0 for g in log)


async def test_a_capture_below_the_smallest_charge_is_refused(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    r = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture", json={"amount": 49})
    assert r.status_code == 422 and r.json()["code"] == "amount_too_small"
    ok = await tenant.api.post(f"/api/v1/payments/{hold['id']}/capture", json={"amount": 50})
    assert ok.status_code == 200 and ok.json()["net"] >= 0


async def test_the_api_is_documented_by_its_openapi_schema(tenant: Tenant) -> None:
    schema = (await tenant.api.get("/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/clients", "post"),
        ("/api/v1/clients/{client_id}", "get"),
        ("/api/v1/clients/{client_id}/cards", "post"),
        ("/api/v1/clients/{client_id}/cards/{card_id}", "delete"),
        ("/api/v1/payments", "post"),
        ("/api/v1/payments/{payment_id}", "get"),
        ("/api/v1/payments/{payment_id}/capture", "post"),
        ("/api/v1/payments/{payment_id}/cancel", "post"),
        ("/api/v1/payments/{payment_id}/refunds", "post"),
        ("/api/v1/balance", "get"),
        ("/api/v1/gateway-requests", "get"),
        ("/webhooks/stripe", "post"),
        ("/sandbox/tokens", "post"),
    ]:
        assert method in paths[path], f"{method.upper()} {path} undocumented"
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert (await tenant.api.get("/docs")).status_code == 200


async def test_a_hold_that_lapsed_is_released_when_cancelled(tenant: Tenant, clock: Any) -> None:
    """A hold lives 7 days at the gateway and then releases itself: cancelling it after that
    is done (the card holds nothing), not an error that would leave it 'requires_capture'
    here for ever; capturing it is still refused."""
    client = await tenant.client()
    late = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    clock.advance(days=8)
    captured = await tenant.api.post(f"/api/v1/payments/{late['id']}/capture", json={})
    assert captured.status_code >= 400
    r = await tenant.api.post(f"/api/v1/payments/{late['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled" and r.json()["amount_captured"] == 0
    assert (await tenant.balance())["available"] == 0
