"""A chat room, its client and a driver for metered sessions through the public API, on
the suite's frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from fareroom.ledger.service import AccountRef, business
from tests.conftest import Tenant

# docs/design.md §5's first example: 10.00 EUR for 5 minutes, 30-s increments; a 20.00 hold.
TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}


class Chat:
    def __init__(self, tenant: Tenant, ctx: Context, clock: FrozenClock) -> None:
        self.t, self.ctx, self.clock = tenant, ctx, clock
        self.api = tenant.api

    async def room(self, tariff: dict[str, Any] | None = None, **settings: Any) -> dict:
        r = await self.api.post("/api/v1/chat-rooms", json={
            "name": "Advice", "terms": "You pay per minute as shown.",
            "tariff": tariff or TARIFF, "agent_ids": [self.t.owner_id], **settings})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def open(self, room: dict, client: dict | None = None, **extra: Any) -> dict:
        client = client or await self.t.client()
        r = await self.api.post("/api/v1/chat-sessions", json={
            "room_id": room["id"], "agent_id": self.t.owner_id, "client_id": client["id"],
            "accepted_terms": True, **extra})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def event(self, session: dict, kind: str, party: str | None = None,
                    at: datetime | None = None, expect: int = 200) -> dict:  # fmt: skip
        body: dict[str, Any] = {"kind": kind}
        if party:
            body["party"] = party
        if at:
            body["at"] = at.isoformat()
        r = await self.api.post(f"/api/v1/chat-sessions/{session['id']}/events", json=body)
        assert r.status_code == expect, r.text
        return dict(r.json())

    async def get(self, session: dict) -> dict:
        r = await self.api.get(f"/api/v1/chat-sessions/{session['id']}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def collections(self, session: dict) -> list[dict]:
        r = await self.api.get(f"/api/v1/chat-sessions/{session['id']}/collections")
        return list(r.json()["data"])

    async def payments(self, session: dict) -> list[dict]:
        r = await self.api.get("/api/v1/payments", params={"limit": 100})
        return [p for p in r.json()["data"] if session["id"] in p["description"]]

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)

    async def balance(self, kind: str = "business_balance", owner: str | None = None) -> int:
        async with self.ctx.unit_of_work() as s:
            ref = (AccountRef(kind, "EUR", self.t.id, owner) if owner
                   else business(kind, "EUR", self.t.id))  # fmt: skip
            return await s.ledger.balance(ref)

    async def ledger_ok(self) -> None:
        async with self.ctx.unit_of_work() as s:
            assert await s.ledger.verify() == []


@pytest.fixture
async def chat(tenant: Tenant, ctx: Context, clock: FrozenClock) -> AsyncIterator[Chat]:
    yield Chat(tenant, ctx, clock)
