"""GET /_bench/counters: the SQL a process sent, for bench/payments.py, only when asked for."""

from __future__ import annotations

from typing import Any

import httpx

from fareroom.app import create_app
from fareroom.bootstrap import bootstrap
from fareroom.config import Settings
from fareroom.kit.clock import FrozenClock

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035}


async def test_counters_are_not_served_unless_the_setting_asks(http: httpx.AsyncClient) -> None:
    r = await http.get("/_bench/counters")
    assert r.status_code == 404
    assert "/_bench/counters" not in (await http.get("/openapi.json")).text


async def test_counters_count_the_statements_of_both_engines(
    settings: Settings, clock: FrozenClock
) -> None:
    ctx = bootstrap(settings.model_copy(update={"bench_counters": True}), clock=clock)
    transport = httpx.ASGITransport(app=create_app(ctx), client=("127.0.0.9", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

            async def counted() -> dict[str, Any]:
                r = await http.get("/_bench/counters")
                assert r.status_code == 200
                return dict(r.json())

            start = await counted()
            # A refused API key: the main engine's lookup, rolled back.
            refused = await http.get("/api/v1/balance", headers={"Authorization": "Bearer no"})
            assert refused.status_code == 401
            after_refusal = await counted()
            assert after_refusal["statements"] > start["statements"]
            assert after_refusal["commits"] == start["commits"]
            # A card token: the sandbox's own engine writes it (in a transaction of its own
            # on SQLite, in autocommit on PostgreSQL: no commit counted there).
            assert (await http.post("/sandbox/tokens", json=CARD)).status_code == 201
            after_token = await counted()
            assert after_token["statements"] > after_refusal["statements"]
            async with ctx.unit_of_work() as s:
                await s.accounts.create_business(
                    name="Counted",
                    owner_email=f"counted-{id(ctx)}@example.com",
                    owner_password="correct horse battery",
                )
            assert (await counted())["commits"] == after_token["commits"] + 1
    finally:
        await ctx.close()
