"""Paid meetings through the API on the frozen clock: a business with its connected account
enabled (the sandbox's onboarding), a scheduled room hosted by its owner, made paid, and a
registrant's side of the public ``/r/<code>`` API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.meetings.conftest import live_url, meet  # noqa: F401 (fixtures of the door's tests)

OK = "4242424242424242"
DECLINED = "4000000000000002"
NEEDS_AUTH = "4000002760003184"


class Paid:
    def __init__(self, t: Tenant, ctx: Context, clock: FrozenClock, public: httpx.AsyncClient
                 ) -> None:  # fmt: skip
        self.t, self.ctx, self.clock, self.public = t, ctx, clock, public

    async def connect(self) -> None:
        r = await self.t.api.post("/api/v1/connect/onboarding", json={})
        assert r.status_code == 200, r.text
        assert self.ctx.sandbox is not None
        await self.ctx.sandbox.complete_onboarding(r.json()["account_id"])
        status = (await self.t.api.get("/api/v1/connect")).json()["status"]
        assert status == "enabled"

    async def room(self, *, days: float = 10, rrule: str | None = None, duration: int = 60,
                   **fields: Any) -> dict[str, Any]:  # fmt: skip
        start = self.clock.now() + timedelta(days=days)
        r = await self.t.api.post("/api/v1/meeting-rooms", json={
            "host_id": self.t.owner_id, "topic": "Pottery class", "kind": "scheduled",
            "schedule": {"starts_at": start.isoformat(), "duration_minutes": duration,
                         "time_zone": "Europe/Berlin", "rrule": rrule}, **fields})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def make_paid(self, room_id: str, **fields: Any) -> httpx.Response:
        body = {"price": 5_000, "currency": "EUR", "pricing": "single", "seats": 5, **fields}
        return await self.t.api.put(f"/api/v1/meeting-rooms/{room_id}/paid", json=body)

    async def meeting(self, *, rrule: str | None = None, days: float = 10,
                      room: dict[str, Any] | None = None, **fields: Any
                      ) -> dict[str, Any]:  # fmt: skip
        room = room or await self.room(rrule=rrule, days=days)
        r = await self.make_paid(room["id"], **fields)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def token(self, number: str = OK) -> str:
        return await self.t.token(number)

    async def register(self, code: str, *, name: str = "Ada Lovelace",
                       email: str = "ada@example.com", card: str = OK,
                       occurrences: list[str] | None = None, request_key: str | None = None,
                       **extra: Any) -> httpx.Response:  # fmt: skip
        body: dict[str, Any] = {"name": name, "email": email, "terms": True,
                                "occurrences": occurrences or [],
                                "request_key": request_key or uuid.uuid4().hex,
                                "card_token": await self.token(card), **extra}  # fmt: skip
        return await self.public.post(f"/api/v1/register/{code}/registrations", json=body)

    async def pending(
        self, code: str, *, name: str = "Ada Lovelace", email: str = "ada@example.com"
    ) -> dict[str, Any]:
        """A registration holding its seats, not paid: what a page that died between
        registering and paying leaves (the service's first step alone)."""
        key = uuid.uuid4().hex
        async with self.ctx.unit_of_work() as s:
            view = await s.registrations.register(code, name=name, email=email,
                                                  occurrence_ids=[], terms=True,
                                                  request_key=key)  # fmt: skip
            return {"id": view.registration.id, "token": view.token}

    async def registered(self, code: str, **kwargs: Any) -> dict[str, Any]:
        r = await self.register(code, **kwargs)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def pay(self, code: str, reg: dict[str, Any], card: str = OK) -> httpx.Response:
        return await self.public.post(
            f"/api/v1/register/{code}/registrations/{reg['id']}/pay",
            json={"card_token": await self.token(card)},
            headers={"X-Registration-Token": reg["token"]})  # fmt: skip

    async def cancel(self, code: str, reg: dict[str, Any], occurrence_id: str | None = None
                     ) -> httpx.Response:  # fmt: skip
        return await self.public.post(
            f"/api/v1/register/{code}/registrations/{reg['id']}/cancel",
            json={"occurrence_id": occurrence_id},
            headers={"X-Registration-Token": reg["token"]})  # fmt: skip

    async def get(self, reg_id: str) -> dict[str, Any]:
        r = await self.t.api.get(f"/api/v1/registrations/{reg_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def page(self, code: str) -> dict[str, Any]:
        r = await self.public.get(f"/api/v1/register/{code}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def payment(self, payment_id: str) -> dict[str, Any]:
        r = await self.t.api.get(f"/api/v1/payments/{payment_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def paid(tenant: Tenant, ctx: Context, clock: FrozenClock, app: Any) -> AsyncIterator[Paid]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as public:
        driver = Paid(tenant, ctx, clock, public)
        await driver.connect()
        yield driver
