"""Two `fareroom serve` processes sharing the database and a real Redis: the client's page
is connected to one, the agent's console to the other, and they chat and see one meter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.chat.conftest import Live
from tests.conftest import Tenant
from tests.support.servers import FareroomServer


async def _events(live: Live, session_id: str) -> list[tuple[str, str | None, str]]:
    r = await live.t.api.get(f"/api/v1/chat-sessions/{session_id}/events")
    return [(e["kind"], e["party"], e["event_at"]) for e in r.json()["data"]]


@pytest.fixture(scope="module")
def servers(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[FareroomServer, FareroomServer]]:  # fmt: skip
    tmp: Path = tmp_path_factory.mktemp("two")
    env = {"FAREROOM_DATABASE_URL": database_url, "FAREROOM_REDIS_URL": redis_url,
           "FAREROOM_SECRET_KEY": "test-secret", "FAREROOM_MAIL_DIR": str(tmp / "mail"),
           "FAREROOM_METER_TICK_SECONDS": "1"}  # fmt: skip
    one = FareroomServer(env)  # with the worker: ticks the meters
    two = FareroomServer(env, "--no-worker")
    yield one, two
    for server in (one, two):
        err = server.stop()
        assert "Traceback" not in err, err


async def test_client_and_agent_on_different_processes_chat_and_see_one_meter(
    tenant: Tenant, ctx: Context, clock: FrozenClock,
    servers: tuple[FareroomServer, FareroomServer],
) -> None:  # fmt: skip
    one, two = servers
    on_one, on_two = Live(tenant, ctx, clock, one.url), Live(tenant, ctx, clock, two.url)
    try:
        agent = await on_two.agent()
        room = await on_two.room([agent])
        console = await on_two.console(agent)  # the agent is online on process two
        visit = await on_one.visit(room)  # the client comes in through process one
        page, _ = await on_one.client(visit["token"])
        session = await page.session(lambda s: s["status"] == "open", within=10)
        joined = await console.session(lambda s: s["id"] == session["id"])
        assert joined["agent_id"] == agent["id"]

        def said_by(party: str) -> Callable[[dict[str, Any]], bool]:
            return lambda m: m.get("type") == "message" and m["party"] == party

        await page.send(type="message", text="from process one")
        assert (await console.expect(said_by("client")))["text"] == "from process one"
        await console.send(type="message", session=session["id"], text="from process two")
        assert (await page.expect(said_by("agent")))["text"] == "from process two"

        # the worker on process one ticks; both see the same meter, whichever process
        m1, m2 = await page.expect("meter", within=5), await console.expect("meter", within=5)
        assert m1["session_id"] == m2["session_id"] == session["id"]
        later = await console.expect(lambda m: m.get("type") == "meter" and m["seconds"] >= 2,
                                     within=8)  # fmt: skip
        assert later["t"] > m1["t"] and later["seconds"] > m1["seconds"]

        # presence across processes: the client's page closes on one, the agent on two hears.
        # Its offline time counts from its last heartbeat, so it sends one first: without
        # it, the last thing heard is its message, which may be under a second after the
        # connection (0 chargeable seconds, nothing to pay).
        await page.send(type="ping")
        await page.close()
        await console.session(lambda s: s["offline"] == ["client"], within=10)
        await console.send(type="hangup", session=session["id"])
        ended = await console.session(lambda s: s["status"] == "paid", within=10)
        events = await _events(on_one, session["id"])
        assert ended["collected"] == ended["price"] == 1000, (ended, events)
    finally:
        await on_one.close()
        await on_two.close()
