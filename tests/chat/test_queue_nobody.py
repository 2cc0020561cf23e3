"""A client waiting in the queue when the room's last agent goes: the page is told that no
agent is online (and until when the hold stays), and after ``queue_nobody_seconds`` with
nobody online the hold is released and the page shows the away step (docs/realtime.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fareroom.worker.loop import run_round
from tests.chat.conftest import Live, Socket


async def _waiting_then_agent_away(live: Live) -> tuple[Socket, Socket, dict[str, Any], dict]:
    """A client waits (their page not yet open, so not routed); the room's only agent then
    goes away; the client's page opens."""
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room)
    await console.send(type="availability", status="away")
    await console.expect("availability")
    page, welcome = await live.client(visit["token"])
    assert welcome["visit"]["status"] == "waiting"
    return console, page, room, visit


async def _payments(live: Live) -> list[str]:
    return [p["status"] for p in (await live.t.api.get("/api/v1/payments")).json()["data"]]


async def test_a_waiting_client_is_told_when_no_agent_is_online_and_when_one_is_back(
    live: Live,
) -> None:
    console, page, room, _ = await _waiting_then_agent_away(live)
    await run_round(live.ctx)  # the worker's round
    told = await page.expect("queue")
    assert told["position"] == 1 and told["agents_online"] is False
    wait = live.ctx.settings.queue_nobody_seconds
    release = datetime.fromisoformat(told["release_at"])
    assert (release - live.clock.now()).total_seconds() == wait
    await run_round(live.ctx)  # told once, not every round
    assert [m for m in await page.quiet() if m.get("type") == "queue"] == []
    # a reload shows the same
    live.clock.advance(seconds=10)
    again, welcome = await live.client(await _token(live, page))
    assert welcome["visit"]["agents_online"] is False
    assert welcome["visit"]["release_at"] == told["release_at"]

    await console.send(type="availability", status="online")  # back: the client is connected
    await again.expect("connected")
    assert await _payments(live) == ["requires_capture"]


async def _token(live: Live, page: Socket) -> str:
    """The page's current resume token (its welcome's)."""
    welcome = next(m for m in page.seen if m.get("type") == "welcome")
    await page.close()
    return str(welcome["token"])


async def test_a_client_nobody_comes_online_for_is_released_and_shown_the_away_step(
    live: Live,
) -> None:
    console, page, room, _ = await _waiting_then_agent_away(live)
    await run_round(live.ctx)
    await page.expect(lambda m: m.get("type") == "queue" and m["agents_online"] is False)
    live.clock.advance(seconds=live.ctx.settings.queue_nobody_seconds - 1)
    await run_round(live.ctx)
    assert await _payments(live) == ["requires_capture"]  # not yet

    live.clock.advance(seconds=1)
    await run_round(live.ctx)
    left = await page.expect("visit")
    assert left["visit"]["status"] == "left" and left["reason"] == "no_agent_online"
    assert await _payments(live) == ["canceled"]  # the hold was released
    await console.expect(lambda m: m.get("type") == "queues" and m["queues"][room["id"]] == 0)
    await run_round(live.ctx)  # nothing more to do
    assert await _payments(live) == ["canceled"]
