"""A live server (the chat tests' ``live_url``: uvicorn on the suite's loop, its Context and
frozen clock) and a driver for meeting participants: each with its own cookie jar (its
device cookie, and a sign-in for users), joining through the start page's JSON and
speaking docs/meetings.md on ``/ws/meeting`` with a real WebSocket client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.chat.conftest import Socket, live_url  # noqa: F401 (a fixture)
from tests.conftest import Tenant

PASSWORD = "host password 123"


class Person:
    """One browser: its cookies (device, sign-in) and its meeting socket."""

    def __init__(self, meet: Meet, name: str, http: httpx.AsyncClient) -> None:
        self.meet, self.name, self.http = meet, name, http
        self.sock: Socket | None = None
        self.welcome: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return str(self.welcome["you"]["id"])

    async def start_page(self, code: str) -> httpx.Response:
        return await self.http.get(f"/m/{code}")

    async def ticket(self, code: str, /, **body: Any) -> httpx.Response:
        await self.start_page(code)  # the device cookie
        body.setdefault("name", self.name)
        return await self.http.post(f"/m/{code}/join", json=body)

    async def connect(self, ticket: str, *, cookies: str | None = None) -> Socket:
        jar = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        ws = await connect(
            f"ws://{self.meet.url}/ws/meeting",
            open_timeout=5,
            additional_headers={"Cookie": jar if cookies is None else cookies},
        )
        sock = Socket(ws)
        self.meet.sockets.append(sock)
        await sock.send(type="hello", ticket=ticket)
        return sock

    async def join(self, code: str, /, **body: Any) -> dict[str, Any]:
        """Start page, ticket, hello: the welcome (and then roster or lobby)."""
        r = await self.ticket(code, **body)
        assert r.status_code == 200, r.text
        self.sock = await self.connect(r.json()["ticket"])
        self.welcome = await self.sock.expect("welcome")
        return self.welcome

    async def send(self, **message: Any) -> None:
        assert self.sock is not None
        await self.sock.send(**message)

    async def expect(self, match: Any, within: float = 5.0) -> dict[str, Any]:
        assert self.sock is not None
        return await self.sock.expect(match, within)

    async def error(self, code: str) -> dict[str, Any]:
        got = await self.expect("error")
        assert got["code"] == code, got
        return got

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        assert self.sock is not None
        return await self.sock.quiet(seconds)

    async def closed(self) -> tuple[int | None, list[dict[str, Any]]]:
        """Everything until the server closes the socket, and its close code."""
        assert self.sock is not None
        got: list[dict[str, Any]] = []
        with contextlib.suppress(Exception):
            while True:
                got.append(await self.sock.expect(lambda m: True, within=5))
        return self.sock.ws.close_code, got


class Meet:
    def __init__(self, tenant: Tenant, ctx: Context, clock: FrozenClock, url: str) -> None:
        self.t, self.ctx, self.clock, self.url = tenant, ctx, clock, url
        self.sockets: list[Socket] = []
        self.clients: list[httpx.AsyncClient] = []
        self._n = 0

    def browser(self) -> httpx.AsyncClient:
        http = httpx.AsyncClient(base_url=f"http://{self.url}")
        self.clients.append(http)
        return http

    def guest(self, name: str = "Guest") -> Person:
        return Person(self, name, self.browser())

    async def user(self, name: str = "Host", role: str = "agent") -> tuple[Person, str]:
        """A user of the business, signed in in their browser; (person, user id)."""
        self._n += 1
        email = f"{name.lower()}{self._n}-{self.t.id}@example.com"
        async with self.ctx.unit_of_work() as s:
            user = await s.accounts.add_user(self.t.id, email=email, password=PASSWORD,
                                             role=role, name=name)  # fmt: skip
        async with self.ctx.unit_of_work() as s:
            cookie = await s.accounts.login(email=email, password=PASSWORD)
        http = self.browser()
        http.cookies.set("fareroom_session", cookie)
        return Person(self, name, http), user.id

    async def room(self, host_id: str, **fields: Any) -> dict[str, Any]:
        r = await self.t.api.post("/api/v1/meeting-rooms", json={
            "host_id": host_id, "topic": "Quarterly review", **fields})  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def started(self, **fields: Any) -> tuple[dict[str, Any], Person, Person]:
        """A join-before-host room (with ``fields``) where the host Hana and a guest Ada are
        both in, each told of the other: (room, host, guest)."""
        host, host_id = await self.user("Hana")
        room = await self.room(host_id, join_before_host=True, **fields)
        await host.join(room["code"])
        await host.expect("roster")
        ada = self.guest("Ada")
        await ada.join(room["code"])
        await ada.expect("roster")
        await host.expect("joined")
        return room, host, ada

    async def audit(self, room_id: str) -> list[dict[str, Any]]:
        r = await self.t.api.get(f"/api/v1/meeting-rooms/{room_id}/audit", params={"limit": 100})
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    async def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(Exception):
                await sock.close()
        for http in self.clients:
            await http.aclose()


@pytest.fixture
async def meet(tenant: Tenant, ctx: Context, clock: FrozenClock, live_url: str  # noqa: F811
               ) -> AsyncIterator[Meet]:  # fmt: skip
    driver = Meet(tenant, ctx, clock, live_url)
    yield driver
    await driver.close()
