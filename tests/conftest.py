"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
``FAREROOM_TEST_DATABASE_URL`` names one), the app bootstrapped on a frozen clock, and a fresh
business per test.

Isolation is by tenant, not by rollback: the sandbox gateway and the gateway request log
write outside the request's transaction by design (as a real gateway would), so each test
creates its own business and asserts on that business's data (platform-wide figures are
compared as deltas).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fareroom.app import create_app
from fareroom.bootstrap import Context, bootstrap
from fareroom.cli import migrate
from fareroom.config import Settings
from fareroom.kit.clock import FrozenClock
from tests.support.reconcile import disagreements
from tests.support.servers import SUITE_LIMITS, LocalStripe, RedisMissing, redis_for_tests

PG_ENV = "FAREROOM_TEST_DATABASE_URL"
REDIS_ENV = "FAREROOM_TEST_REDIS_URL"


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get(PG_ENV)
    if url:
        asyncio.run(_reset_postgres(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/fareroom.sqlite3"
    migrate(url)
    return url


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """localstripe on 127.0.0.1, started once per run; tests wipe its store."""
    server = LocalStripe()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for the tests that need one: ``FAREROOM_TEST_REDIS_URL`` (default the local
    one), or a ``redis-server`` started for the run; never a silent skip."""
    try:
        with redis_for_tests(os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")) as url:
            yield url
    except RedisMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,  # type: ignore[call-arg]
        base_url="http://testserver",
        secret_key="test-secret",
        **SUITE_LIMITS,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
async def ctx(settings: Settings, clock: FrozenClock) -> AsyncIterator[Context]:
    context = bootstrap(settings, clock=clock)
    yield context
    await context.close()


@pytest.fixture(autouse=True)
def _no_leftover_faults(ctx: Context) -> Any:
    yield
    if ctx.sandbox is not None:
        ctx.sandbox.clear_faults()


@pytest.fixture(scope="session")
def app(ctx: Context) -> Any:
    return create_app(ctx)


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class Tenant:
    """A business made for one test, with an API client authenticated as it."""

    def __init__(self, made: Any, api: httpx.AsyncClient, password: str) -> None:
        self.business = made.business
        self.id: str = made.business.id
        self.owner_email: str = made.owner.email
        self.password = password
        self.api_key: str = made.api_key
        self.owner_id: str = made.owner.id
        self.api = api

    async def client(self, name: str = "Ada", number: str | None = "4242424242424242") -> dict:
        r = await self.api.post("/api/v1/clients", json={"name": name, "email": "a@example.com"})
        assert r.status_code == 201, r.text
        client = r.json()
        if number:
            card = await self.card(client["id"], number)
            client["card_id"] = card["id"]
        return client

    async def token(self, number: str) -> str:
        r = await self.api.post(
            "/sandbox/tokens",
            json={"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def card(self, client_id: str, number: str = "4242424242424242") -> dict:
        r = await self.api.post(
            f"/api/v1/clients/{client_id}/cards", json={"token": await self.token(number)}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def pay(
        self,
        client_id: str,
        amount: int = 10_000,
        *,
        capture: bool = True,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body = {
            "client_id": client_id,
            "amount": amount,
            "currency": "EUR",
            "capture": capture,
            **extra,
        }
        return await self.api.post("/api/v1/payments", json=body, headers=headers or {})

    async def balance(self) -> dict:
        r = await self.api.get("/api/v1/balance")
        assert r.status_code == 200, r.text
        return dict(r.json()["balances"][0])


_counter = iter(range(1, 10**9))


async def make_tenant(ctx: Context, app: Any, **kwargs: Any) -> AsyncIterator[Tenant]:
    n = next(_counter)
    password = "correct horse battery"
    async with ctx.unit_of_work() as s:
        made = await s.accounts.create_business(
            name=f"Tenant {n}",
            owner_email=f"owner{n}-{os.getpid()}-{id(ctx)}@example.com",
            owner_password=password,
            **kwargs,
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {made.api_key}"},
    ) as api:
        yield Tenant(made, api, password)
    if ctx.sandbox is not None and await ctx.sandbox.charges(business_id=made.business.id):
        # Whatever the test did with the gateway (webhooks, the worker's rounds, crashes and
        # recoveries), the business's ledger, its payments and the gateway's records of it
        # agree at the end. (Tests that post to the ledger alone have no charges to compare.)
        assert await disagreements(ctx, made.business.id) == []


@pytest.fixture
async def tenant(ctx: Context, app: Any) -> AsyncIterator[Tenant]:
    async for t in make_tenant(ctx, app):
        yield t


@pytest.fixture
async def other_tenant(ctx: Context, app: Any) -> AsyncIterator[Tenant]:
    async for t in make_tenant(ctx, app):
        yield t
