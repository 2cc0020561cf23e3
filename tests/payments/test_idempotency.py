"""Retrying a money-moving request with the same Idempotency-Key moves money once."""

from __future__ import annotations

import asyncio

from fareroom.bootstrap import Context
from tests.conftest import Tenant


async def _payments(t: Tenant) -> list[dict]:
    return list((await t.api.get("/api/v1/payments", params={"limit": 100})).json()["data"])


async def test_same_key_same_body_returns_the_first_response(tenant: Tenant) -> None:
    client = await tenant.client()
    key = {"Idempotency-Key": "order-42"}
    first = await tenant.pay(client["id"], 7_000, headers=key)
    second = await tenant.pay(client["id"], 7_000, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(await _payments(tenant)) == 1
    assert (await tenant.balance())["gross"] == 7_000


async def test_same_key_with_another_body_is_refused(tenant: Tenant) -> None:
    client = await tenant.client()
    key = {"Idempotency-Key": "order-43"}
    assert (await tenant.pay(client["id"], 7_000, headers=key)).status_code == 201
    r = await tenant.pay(client["id"], 7_001, headers=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert len(await _payments(tenant)) == 1


async def test_keys_are_scoped_to_the_business(tenant: Tenant, other_tenant: Tenant) -> None:
    mine, theirs = await tenant.client(), await other_tenant.client()
    key = {"Idempotency-Key": "shared-key"}
    assert (await tenant.pay(mine["id"], 1_000, headers=key)).status_code == 201
    assert (await other_tenant.pay(theirs["id"], 1_000, headers=key)).status_code == 201


async def test_a_wrong_api_key_claims_nothing(tenant: Tenant) -> None:
    client = await tenant.client()
    body = {"client_id": client["id"], "amount": 2_000, "currency": "EUR"}
    wrong = {"Idempotency-Key": "order-7", "Authorization": "Bearer fr_wrong"}
    r = await tenant.api.post("/api/v1/payments", json=body, headers=wrong)
    assert r.status_code == 401 and r.json()["code"] == "api_key_invalid"
    # The key is still free for the business whose API key is right.
    r = await tenant.pay(client["id"], 2_000, headers={"Idempotency-Key": "order-7"})
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert len(await _payments(tenant)) == 1


async def test_a_charge_whose_response_was_lost_is_charged_once_on_retry(
    tenant: Tenant, ctx: Context
) -> None:
    client = await tenant.client()
    assert ctx.sandbox is not None
    ctx.sandbox.inject_fault("create_charge", "lost_response")
    key = {"Idempotency-Key": "lost-1"}
    first = await tenant.pay(client["id"], 9_000, headers=key)
    assert first.status_code == 503 and first.json()["code"] == "gateway_unavailable"
    assert await _payments(tenant) == []
    retry = await tenant.pay(client["id"], 9_000, headers=key)
    assert retry.status_code == 201, retry.text
    assert len(await _payments(tenant)) == 1
    log = (await tenant.api.get("/api/v1/gateway-requests")).json()["data"]
    charges = [g for g in log if g["operation"] == "create_charge"]
    assert len(charges) == 2 and len({g["idempotency_key"] for g in charges}) == 1
    assert len({g["gateway_object_id"] for g in charges if g["gateway_object_id"]}) == 1
    assert (await tenant.balance())["gross"] == 9_000


async def test_capture_and_refund_survive_lost_responses(tenant: Tenant, ctx: Context) -> None:
    assert ctx.sandbox is not None
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 6_000, capture=False)).json()
    url = f"/api/v1/payments/{hold['id']}"
    ctx.sandbox.inject_fault("capture", "lost_response")
    k1 = {"Idempotency-Key": "cap-1"}
    assert (await tenant.api.post(f"{url}/capture", json={}, headers=k1)).status_code == 503
    r = await tenant.api.post(f"{url}/capture", json={}, headers=k1)
    assert r.status_code == 200 and r.json()["amount_captured"] == 6_000

    ctx.sandbox.inject_fault("refund", "lost_response")
    k2 = {"Idempotency-Key": "ref-1"}
    body = {"amount": 1_000, "reason": "retry"}
    assert (await tenant.api.post(f"{url}/refunds", json=body, headers=k2)).status_code == 503
    again = await tenant.api.post(f"{url}/refunds", json=body, headers=k2)
    replay = await tenant.api.post(f"{url}/refunds", json=body, headers=k2)
    assert again.status_code == replay.status_code == 201 and again.json() == replay.json()
    p = (await tenant.api.get(url)).json()
    assert p["amount_refunded"] == 1_000 and len(p["refunds"]) == 1
    assert (await tenant.balance())["refunds"] == 1_000


async def test_a_timeout_before_the_gateway_acted_is_retried_safely(
    tenant: Tenant, ctx: Context
) -> None:
    assert ctx.sandbox is not None
    client = await tenant.client()
    ctx.sandbox.inject_fault("create_charge", "rate_limit")
    key = {"Idempotency-Key": "rl-1"}
    r = await tenant.pay(client["id"], 2_000, headers=key)
    assert r.status_code == 503 and r.json()["code"] == "gateway_rate_limited"
    assert (await tenant.pay(client["id"], 2_000, headers=key)).status_code == 201
    assert len(await _payments(tenant)) == 1


async def test_a_final_error_is_replayed_for_the_same_key(tenant: Tenant) -> None:
    client = await tenant.client(number="4000000000000341")
    key = {"Idempotency-Key": "decl-1"}
    first = await tenant.pay(client["id"], 2_000, headers=key)
    second = await tenant.pay(client["id"], 2_000, headers=key)
    assert first.status_code == second.status_code == 402
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"


async def test_a_key_still_in_progress_is_a_409(tenant: Tenant, ctx: Context) -> None:
    client = await tenant.client()
    body = {
        "client_id": client["id"],
        "amount": 1_000,
        "currency": "EUR",
        "category": "service",
        "capture": True,
        "card_id": None,
        "description": "",
    }
    from fareroom.idempotency.service import request_hash

    async def as_tenant(_: object) -> str:
        return tenant.id

    await ctx.idempotency.claim(
        as_tenant, "busy-1", request_hash("POST", "/api/v1/payments", body), "pay"
    )
    r = await tenant.pay(client["id"], 1_000, headers={"Idempotency-Key": "busy-1"})
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_in_use"
    assert await _payments(tenant) == []


async def test_two_concurrent_captures_of_one_hold_capture_once(tenant: Tenant) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 4_000, capture=False)).json()
    url = f"/api/v1/payments/{hold['id']}/capture"
    results = await asyncio.gather(*(tenant.api.post(url, json={}) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    log = (await tenant.api.get("/api/v1/gateway-requests")).json()["data"]
    assert [g["outcome"] for g in log if g["operation"] == "capture"] == ["ok"]
    b = await tenant.balance()
    assert b["gross"] == 4_000 and b["platform_fees"] == 400
