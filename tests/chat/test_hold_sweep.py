"""The sweep that releases the holds of clients gone before being connected makes progress
whatever the load: visits still heard from, however many and wherever they come in its
order, never keep it from the others."""

from __future__ import annotations

from typing import Any

import httpx

from fareroom.bootstrap import Context
from fareroom.chat.live import visit_key
from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.support.presence import agent_online

TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}


async def _room(ctx: Context, tenant: Tenant) -> str:
    r = await tenant.api.post("/api/v1/chat-rooms", json={
        "name": "Advice", "terms": "You pay per minute.", "tariff": TARIFF,
        "agent_ids": [tenant.owner_id]})  # fmt: skip
    await agent_online(ctx, tenant.id, tenant.owner_id)
    return str(r.json()["id"])


async def _contact(http: Any, room_id: str) -> dict[str, Any]:
    r = await http.post("/chat/api/visits", json={
        "room_id": room_id, "name": "Ada", "email": "ada@example.com",
        "question": "Can you help?"})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _waiting_with_a_hold(http: Any, room_id: str, card: str) -> None:
    headers = {"X-Visit-Token": (await _contact(http, room_id))["token"]}
    assert (await http.post("/chat/api/visit/terms", headers=headers)).status_code == 200
    r = await http.post("/chat/api/visit/card", headers=headers, json={"token": card})
    assert r.status_code == 200 and r.json()["visit"]["status"] == "waiting", r.text


async def _holds(tenant: Tenant) -> list[str]:
    r = await tenant.api.get("/api/v1/payments", params={"limit": 100})
    return [p["status"] for p in r.json()["data"]]


def _from(app: Any, address: str) -> httpx.AsyncClient:
    """A page connecting from ``address`` (each visit from its own: the contact form and the
    holds are limited per room and address)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_abandoned_holds_are_released_while_one_visitor_keeps_100_pages_open(
    http: Any, app: Any, ctx: Context, clock: FrozenClock, tenant: Tenant, other_tenant: Tenant
) -> None:
    rooms = [await _room(ctx, tenant), await _room(ctx, other_tenant)]
    # One visitor's 100 contact-form pages (from as many addresses, so that no rate limit
    # stops them), opened first and heard from all along.
    pages = []
    for n in range(100):
        async with _from(app, f"192.0.2.{n + 1}") as page:
            pages.append(await _contact(page, rooms[0]))
    kept = [page["visit"]["id"] for page in pages]
    clock.advance(seconds=1)
    for n in range(150):  # then 150 clients who gave a card and left, in two businesses
        card = await http.post("/sandbox/tokens", json={
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2035})  # fmt: skip
        async with _from(app, f"203.0.113.{n + 1}") as page:
            await _waiting_with_a_hold(page, rooms[n % 2], card.json()["id"])
    assert await _holds(tenant) == await _holds(other_tenant) == ["requires_capture"] * 75
    clock.advance(seconds=ctx.settings.presence_timeout_seconds + 10)
    for _ in range(3):  # rounds of the worker
        await ctx.hub.touch({visit_key(v): clock.now().timestamp() for v in kept})
        await ctx.relay.sweep_presence()
    assert await _holds(tenant) == await _holds(other_tenant) == ["canceled"] * 75
    for page in (pages[0], pages[-1]):  # the pages still open were left alone
        r = await http.get("/chat/api/visit", headers={"X-Visit-Token": page["token"]})
        assert r.json()["visit"]["status"] == "terms"
    await ctx.hub.forget([visit_key(v) for v in kept])
