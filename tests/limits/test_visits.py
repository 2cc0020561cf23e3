"""The contact form (visits) is limited per address and per room and address, card attempts
(holds) per room and address; a refused attempt writes nothing and reaches no gateway."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.support.presence import agent_online

Client = Callable[[str], httpx.AsyncClient]
TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}
DECLINED = "4000000000000002"


async def make_room(shop: Tenant, ctx: Context) -> str:
    """A room whose agent (the owner) is online: it takes visits."""
    r = await shop.api.post("/api/v1/chat-rooms", json={
        "name": "Advice", "terms": "You pay per minute.", "tariff": TARIFF,
        "agent_ids": [shop.owner_id]})  # fmt: skip
    assert r.status_code == 201, r.text
    await agent_online(ctx, shop.id, shop.owner_id)
    return str(r.json()["id"])


async def contact(page: httpx.AsyncClient, room_id: str) -> httpx.Response:
    return await page.post("/chat/api/visits", json={
        "room_id": room_id, "name": "Ada", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
        "question": "Can you help?"})  # fmt: skip


async def count(shop: Tenant, path: str) -> int:
    r = await shop.api.get(path, params={"limit": 100})
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def refused(r: httpx.Response, retry_after: str) -> dict[str, Any]:
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == retry_after
    body: dict[str, Any] = r.json()
    assert body["code"] == "rate_limited" and body["retry_after"] == int(retry_after)
    return body


async def test_the_contact_form_past_its_limit_per_room_and_address_is_refused_and_writes_nothing(
    shop: Tenant, strict: Context, from_address: Client, clock: FrozenClock
) -> None:
    room = await make_room(shop, strict)
    page = from_address("192.0.2.1")
    for _ in range(5):
        assert (await contact(page, room)).status_code == 201
    clients = await count(shop, "/api/v1/clients")
    body = refused(await contact(page, room), "60")
    assert body["detail"] == ("Too many chats were started from your address. "
                              "Please try again in 1 minute.")  # fmt: skip
    assert await count(shop, "/api/v1/clients") == clients  # every visit makes a client
    assert (await contact(from_address("192.0.2.2"), room)).status_code == 201
    clock.advance(seconds=60)
    await agent_online(strict, shop.id, shop.owner_id)  # the agent's console is still heard
    assert (await contact(page, room)).status_code == 201


async def test_visits_from_one_address_are_limited_across_rooms(
    shop: Tenant, strict: Context, from_address: Client
) -> None:
    rooms = [await make_room(shop, strict) for _ in range(3)]
    page = from_address("192.0.2.3")
    for n in range(10):  # no room gets more than 4
        assert (await contact(page, rooms[n % 3])).status_code == 201
    refused(await contact(page, rooms[1]), "60")
    assert await count(shop, "/api/v1/clients") == 10


async def test_card_attempts_past_the_limit_per_room_and_address_never_reach_the_gateway(
    shop: Tenant, strict: Context, from_address: Client
) -> None:
    room = await make_room(shop, strict)
    page = from_address("192.0.2.4")
    token = (await contact(page, room)).json()["token"]
    visit = {"X-Visit-Token": token}
    assert (await page.post("/chat/api/visit/terms", headers=visit)).status_code == 200
    for _ in range(5):
        r = await page.post("/chat/api/visit/card", headers=visit,
                            json={"token": await shop.token(DECLINED)})  # fmt: skip
        assert r.status_code == 402, r.text
    good = await shop.token("4242424242424242")
    logged = await count(shop, "/api/v1/gateway-requests")
    assert logged >= 5  # the declined attempts went to the gateway

    r = await page.post("/chat/api/visit/card", headers=visit, json={"token": good})
    refused(r, "600")
    assert await count(shop, "/api/v1/gateway-requests") == logged
    assert await count(shop, "/api/v1/payments") == 0
    assert (await page.get("/chat/api/visit", headers=visit)).json()["visit"]["status"] == "card"

    other = from_address("192.0.2.5")  # another address in the same room may
    token = (await contact(other, room)).json()["token"]
    assert (await other.post("/chat/api/visit/terms",
                             headers={"X-Visit-Token": token})).status_code == 200  # fmt: skip
    r = await other.post("/chat/api/visit/card", headers={"X-Visit-Token": token},
                         json={"token": await shop.token("4242424242424242")})  # fmt: skip
    assert r.status_code == 200 and r.json()["visit"]["status"] == "waiting"
