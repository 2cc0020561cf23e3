"""The public forms beside the contact form and the card step have bounds too: messages left
while no agent is available (per address) and the sandbox's card tokens (per address); a
refused one writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.limits.test_visits import TARIFF, refused

Client = Callable[[str], httpx.AsyncClient]


async def _leads(ctx: Context, shop: Tenant, room_id: str) -> int:
    async with ctx.unit_of_work() as s:
        return len(await s.live.leads(shop.id, room_id))


async def test_messages_left_while_no_agent_is_available_are_limited_per_address(
    shop: Tenant, strict: Context, from_address: Client
) -> None:
    r = await shop.api.post("/api/v1/chat-rooms", json={
        "name": "Advice", "terms": "You pay per minute.", "tariff": TARIFF})  # fmt: skip
    room = r.json()["id"]
    page = from_address("192.0.2.20")
    lead = {"name": "Ada", "email": "ada@example.com", "message": "Call me back, please."}
    for _ in range(5):
        assert (await page.post(f"/chat/api/rooms/{room}/leads", json=lead)).status_code == 201
    body = refused(await page.post(f"/chat/api/rooms/{room}/leads", json=lead), "600")
    assert body["detail"] == ("Too many messages were left from your address. "
                              "Please try again in 10 minutes.")  # fmt: skip
    assert await _leads(strict, shop, room) == 5
    other = from_address("192.0.2.21")
    assert (await other.post(f"/chat/api/rooms/{room}/leads", json=lead)).status_code == 201


async def test_sandbox_card_tokens_are_limited_per_address(from_address: Client) -> None:
    page = from_address("192.0.2.22")
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    for _ in range(30):
        assert (await page.post("/sandbox/tokens", json=card)).status_code == 201
    body = refused(await page.post("/sandbox/tokens", json=card), "60")
    assert body["detail"].startswith("Too many cards were tokenised from your address.")
    assert (await from_address("192.0.2.23").post("/sandbox/tokens", json=card)).status_code == 201
