"""GET /api/v1/payments: newest first by when the payment was made, paged by a cursor."""

from __future__ import annotations

from typing import Any

from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant


async def _paid_request(tenant: Tenant, room: dict[str, Any], client: dict[str, Any]) -> str:
    r = await tenant.api.post("/api/v1/payment-requests", json={
        "room_id": room["id"], "agent_id": tenant.owner_id, "client_id": client["id"],
        "category": "service", "total": 2500,
        "items": [{"description": "Advice", "quantity": 1, "unit_price": 2500}]})  # fmt: skip
    assert r.status_code == 201, r.text
    paid = await tenant.api.post(f"/api/v1/payment-requests/{r.json()['id']}/pay", json={})
    assert paid.status_code == 200, paid.text
    [payment] = [p for p in await _all(tenant) if r.json()["id"] in p["description"]]
    return str(payment["id"])


async def _all(tenant: Tenant) -> list[dict[str, Any]]:
    return list((await tenant.api.get("/api/v1/payments", params={"limit": 100})).json()["data"])


async def _room(tenant: Tenant) -> dict[str, Any]:
    r = await tenant.api.post("/api/v1/chat-rooms", json={
        "name": "Advice", "terms": "Pay as shown.", "agent_ids": [tenant.owner_id],
        "tariff": {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _made(tenant: Tenant, clock: FrozenClock, count: int, *, seconds: int) -> list[str]:
    """``count`` payments, ``seconds`` apart, every other one a paid payment request."""
    client, room = await tenant.client(), await _room(tenant)
    made = []
    for n in range(count):
        clock.advance(seconds=seconds)
        made.append(await _paid_request(tenant, room, client) if n % 2
                    else (await tenant.pay(client["id"], 1_000 + n)).json()["id"])  # fmt: skip
    return made


async def test_payments_come_newest_first_payment_requests_among_them(
    tenant: Tenant, clock: FrozenClock
) -> None:
    made = await _made(tenant, clock, 6, seconds=60)
    listed = await _all(tenant)
    assert [p["id"] for p in listed] == made[::-1]
    assert [p["created_at"] for p in listed] == sorted((p["created_at"] for p in listed),
                                                       reverse=True)  # fmt: skip


async def test_paging_gets_every_payment_once_while_new_ones_arrive(
    tenant: Tenant, clock: FrozenClock
) -> None:
    made = await _made(tenant, clock, 7, seconds=30)
    client = await tenant.client()
    clock.advance(seconds=30)
    for _ in range(2):  # two made in the same instant: the id decides between them
        made.append((await tenant.pay(client["id"], 1_000)).json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = (await tenant.api.get("/api/v1/payments", params=params)).json()
        seen += [p["id"] for p in page["data"]]
        clock.advance(seconds=30)
        await tenant.pay(client["id"], 1_000)  # arrives between the pages: on none of them
        if not page["has_more"]:
            break
        cursor = page["next_starting_after"]
    newest_first = sorted(made[-2:], reverse=True)
    assert seen == newest_first + made[-3::-1]


async def test_a_cursor_of_no_payment_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = (await other_tenant.pay((await other_tenant.client())["id"], 1_000)).json()["id"]
    for cursor in ("pay_nothing", theirs):
        r = await tenant.api.get("/api/v1/payments", params={"starting_after": cursor})
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_a_refunded_payment_says_how_much_of_it_came_back(tenant: Tenant) -> None:
    paid = (await tenant.pay((await tenant.client())["id"], 10_000)).json()
    url = f"/api/v1/payments/{paid['id']}"
    await tenant.api.post(f"{url}/refunds", json={"amount": 4_000})
    part = (await tenant.api.get(url)).json()
    assert (part["status"], part["refund_status"], part["amount_refunded"]) == (
        "succeeded",
        "partial",
        4_000,
    )
    too_much = await tenant.api.post(f"{url}/refunds", json={"amount": 7_000})
    assert too_much.status_code == 422
    assert too_much.json()["detail"] == (
        "You can refund at most 60.00 EUR (40.00 EUR is refunded already)."
    )
    assert too_much.json()["refundable"] == 6_000
    await tenant.api.post(f"{url}/refunds", json={})
    full = (await tenant.api.get(url)).json()
    assert (full["status"], full["refund_status"]) == ("succeeded", "full")
