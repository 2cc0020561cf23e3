"""A Context with every rate limit at its default and a limiter of its own (the suite's
Context raises the per-address limits, since all its tests connect from one address), and
HTTP clients that connect from an address of the test's choosing."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from fareroom.app import create_app
from fareroom.bootstrap import Context
from fareroom.config import Settings
from fareroom.kit.clock import FrozenClock
from fareroom.kit.ratelimit import InMemoryRateLimiter
from tests.conftest import Tenant, make_tenant

LIMITS = [name for name in Settings.model_fields if name.startswith("limit_")]


@pytest.fixture
def strict(ctx: Context, clock: FrozenClock) -> Context:
    defaults = {name: Settings.model_fields[name].default for name in LIMITS}
    return dataclasses.replace(ctx, settings=ctx.settings.model_copy(update=defaults),
                               limits=InMemoryRateLimiter(clock))  # fmt: skip


@pytest.fixture
def strict_app(strict: Context) -> Any:
    return create_app(strict)


@pytest.fixture
async def shop(strict: Context, strict_app: Any) -> AsyncIterator[Tenant]:
    async for t in make_tenant(strict, strict_app):
        yield t


@pytest.fixture
async def from_address(strict_app: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """``from_address("203.0.113.7")``: a client of the strict app connecting from there."""
    made: list[httpx.AsyncClient] = []

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=strict_app, client=(address, 40000))
        made.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return made[-1]

    yield client
    for c in made:
        await c.aclose()
