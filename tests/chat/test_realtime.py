"""The chat's WebSocket protocol without a browser: a client's page and an agent's console
against a live server, on the suite's frozen clock."""

from __future__ import annotations

from fareroom.metering import tasks
from tests.chat.conftest import Live


async def test_client_is_routed_to_an_idle_agent_and_they_chat_until_paid(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room)
    assert visit["status"] == "waiting" and visit["position"] == 1
    page, welcome = await live.client(visit["token"])
    assert welcome["token"] != visit["token"]  # the token used is replaced

    opened = await page.session(lambda s: s["status"] == "open")
    assigned = await console.session(lambda s: s["status"] == "open")
    assert opened["id"] == assigned["id"] and assigned["agent_id"] == agent["id"]
    assert opened["meter"] == "running"

    await page.send(type="message", text="Hello, are you there?")
    got = await console.expect(lambda m: m.get("type") == "message" and m["party"] == "client")
    assert got["text"] == "Hello, are you there?"
    await console.send(type="message", session=opened["id"], text="Yes, how can I help?")
    got = await page.expect(lambda m: m.get("type") == "message" and m["party"] == "agent")
    assert got["text"] == "Yes, how can I help?"

    live.clock.advance(seconds=331)  # 5 min 31 s: 12.00 EUR
    await tasks.tick(live.ctx)
    meter = await page.expect("meter")
    assert (meter["seconds"], meter["price"]) == (331, 1200)
    assert (await console.expect("meter"))["price"] == 1200

    await console.send(type="hangup", session=opened["id"])
    paid = await page.session(lambda s: s["status"] == "paid")
    assert (paid["price"], paid["collected"], paid["due"]) == (1200, 1200, 0)
    assert (await console.session(lambda s: s["status"] == "paid"))["collected"] == 1200


async def test_clients_queue_when_no_agent_is_idle_and_are_told_their_place(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    first = await live.visit(room, name="First")
    page1, _ = await live.client(first["token"])
    session = await page1.session(lambda s: s["status"] == "open")
    second = await live.visit(room, name="Second")
    page2, welcome = await live.client(second["token"])
    assert welcome["visit"]["status"] == "waiting" and welcome["visit"]["position"] == 1

    await console.send(type="hangup", session=session["id"])
    await page1.session(lambda s: s["status"] == "paid")
    await page2.expect("connected")
    assert (await page2.session(lambda s: s["status"] == "open"))["agent_id"] == agent["id"]


async def test_nobody_is_routed_to_an_agent_who_is_away_or_closed_the_console(live: Live) -> None:
    away, gone = await live.agent("Away"), await live.agent("Gone")
    room = await live.room([away, gone])
    console = await live.console(away)
    await console.send(type="availability", status="away")
    assert (await console.expect("availability"))["status"] == "away"
    closed = await live.console(gone)
    await closed.close()
    visit = await live.visit(room)
    page, welcome = await live.client(visit["token"])
    assert welcome["visit"]["status"] == "waiting"
    assert not [m for m in await page.quiet() if m.get("type") == "connected"]

    await console.send(type="availability", status="online")
    await page.expect("connected")


async def test_round_robin_takes_the_next_agent_and_longest_idle_the_one_idle_longest(
    live: Live,
) -> None:
    a, b = await live.agent("A"), await live.agent("B")
    first_id = min(a["id"], b["id"])
    room = await live.room([a, b])
    await live.console(a), await live.console(b)
    turns = []
    for _ in range(3):
        visit = await live.visit(room)
        page, _ = await live.client(visit["token"])
        s = await page.session(lambda s: s["status"] == "open")
        turns.append(s["agent_id"])
        await page.send(type="hangup")
        await page.session(lambda s: s["status"] == "paid")
        live.clock.advance(seconds=5)
    other = max(a["id"], b["id"])
    assert turns == [first_id, other, first_id]

    idle_room = await live.room([a, b], distribution="longest_idle")
    visit = await live.visit(idle_room)
    page, _ = await live.client(visit["token"])
    # the agent whose last chat ended longest ago (the second of the three above)
    assert (await page.session(lambda s: s["status"] == "open"))["agent_id"] == other
