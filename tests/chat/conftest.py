"""A live server on 127.0.0.1 (uvicorn on the suite's loop, sharing its Context and frozen
clock), and drivers for a client's page and an agent's console speaking the WebSocket
protocol of docs/realtime.md with a real client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from fareroom.app import create_app
from fareroom.bootstrap import Context
from fareroom.chat.realtime import on_stale
from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.support.servers import uvicorn_here

# 10.00 EUR for the first 5 minutes, 30-s increments, a 20.00 hold.
TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}
PASSWORD = "agent password 1"


@pytest.fixture(scope="session")
async def live_url(ctx: Context) -> AsyncIterator[str]:
    async with uvicorn_here(create_app(ctx, watch=False)) as url:
        yield url


class Socket:
    """One page's socket: sends JSON, and waits for the message it expects."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def expect(self, match: Callable[[dict[str, Any]], bool] | str,
                     within: float = 5.0) -> dict[str, Any]:  # fmt: skip
        """The next message that matches (a type, or a predicate); skips the others."""
        test = (lambda m: m.get("type") == match) if isinstance(match, str) else match
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                if test(message):
                    return message

    async def session(self, test: Callable[[dict[str, Any]], bool], within: float = 5.0
                      ) -> dict[str, Any]:  # fmt: skip
        """The next session state that passes ``test``."""
        found = await self.expect(lambda m: m.get("type") == "session" and test(m["session"]),
                                  within)  # fmt: skip
        return dict(found["session"])

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """What arrives within ``seconds`` (to show that nothing does)."""
        got = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    got.append(json.loads(await self.ws.recv()))
        return got

    async def close(self) -> None:
        await self.ws.close()


class Live:
    """A business with a chat room and agents, driven through the live server."""

    def __init__(self, tenant: Tenant, ctx: Context, clock: FrozenClock, url: str) -> None:
        self.t, self.ctx, self.clock, self.url = tenant, ctx, clock, url
        self.http = httpx.AsyncClient(base_url=f"http://{url}")
        self._sockets: list[Socket] = []
        self._n = 0

    async def agent(self, name: str = "Agent") -> dict[str, str]:
        self._n += 1
        email = f"{name.lower()}{self._n}-{self.t.id}@example.com"
        async with self.ctx.unit_of_work() as s:
            user = await s.accounts.add_user(self.t.id, email=email, password=PASSWORD,
                                             role="agent", name=name)  # fmt: skip
        async with self.ctx.unit_of_work() as s:
            cookie = await s.accounts.login(email=email, password=PASSWORD)
        return {"id": user.id, "email": email, "cookie": cookie}

    async def room(self, agents: list[dict[str, str]], tariff: dict[str, Any] | None = None,
                   **settings: Any) -> dict[str, Any]:  # fmt: skip
        r = await self.t.api.post("/api/v1/chat-rooms", json={
            "name": "Advice", "terms": "You pay per minute as shown.",
            "tariff": tariff or TARIFF, "agent_ids": [a["id"] for a in agents],
            **settings})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def socket(self, path: str, **headers: str) -> Socket:
        ws = await connect(f"ws://{self.url}{path}", additional_headers=headers,
                           open_timeout=5)  # fmt: skip
        sock = Socket(ws)
        self._sockets.append(sock)
        return sock

    async def console(self, agent: dict[str, str], *, online: bool = True) -> Socket:
        sock = await self.socket("/ws/agent", Cookie=f"fareroom_session={agent['cookie']}")
        await sock.send(type="hello")
        await sock.expect("welcome")
        if online:
            await sock.send(type="availability", status="online")
            await sock.expect("availability")
        return sock

    async def visit(self, room: dict[str, Any], *, card: str = "4242424242424242",
                    name: str = "Ada") -> dict[str, Any]:  # fmt: skip
        """A client through the contact form, the terms and the card: waiting."""
        r = await self.http.post("/chat/api/visits", json={
            "room_id": room["id"], "name": name, "email": "ada@example.com",
            "question": "Can you help me with my tax return?"})  # fmt: skip
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        r = await self.http.post("/chat/api/visit/terms", headers={"X-Visit-Token": token})
        assert r.status_code == 200, r.text
        r = await self.give_card(token, card)
        assert r.status_code == 200, r.text
        return {"token": token, **r.json()["visit"]}

    async def card_token(self, number: str) -> str:
        r = await self.http.post("/sandbox/tokens", json={
            "number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"})  # fmt: skip
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def give_card(self, token: str, number: str) -> httpx.Response:
        return await self.http.post("/chat/api/visit/card", headers={"X-Visit-Token": token},
                                    json={"token": await self.card_token(number)})  # fmt: skip

    async def client(self, token: str) -> tuple[Socket, dict[str, Any]]:
        """The client's page connects; returns its socket and its welcome (new token)."""
        sock = await self.socket("/ws/client")
        await sock.send(type="hello", token=token)
        return sock, await sock.expect("welcome")

    async def stale(self) -> int:
        """The registry's once-a-second look for silent pages, now."""
        return await self.ctx.connections.check(on_stale)

    async def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(Exception):
                await sock.close()
        await self.http.aclose()


@pytest.fixture
async def live(tenant: Tenant, ctx: Context, clock: FrozenClock, live_url: str
               ) -> AsyncIterator[Live]:  # fmt: skip
    driver = Live(tenant, ctx, clock, live_url)
    yield driver
    await driver.close()
