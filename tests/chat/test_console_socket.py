"""What the agent console is told over ``/ws/agent``: the client's presence from the
moment the chat is connected, the live count of clients waiting, and the answer to each
payment request it sends."""

from __future__ import annotations

from typing import Any

from tests.chat.conftest import Live, Socket
from tests.chat.test_realtime import _connected


async def test_the_agent_is_told_the_client_went_offline_before_the_meter_starts(
    live: Live,
) -> None:
    _, console, page, welcome, session = await _connected(live, agent_may_start=True)
    assert session["meter"] == "waiting"
    live.clock.advance(seconds=5)
    await page.close()
    gone = await console.session(lambda s: s["offline"] == ["client"])
    assert gone["meter"] == "waiting"  # the meter never ran; the client is offline all the same
    assert (gone["offline_for"], gone["ends_in"]) == (0, 90)

    live.clock.advance(seconds=40)
    again, _ = await live.client(welcome["token"])
    back = await console.session(lambda s: s["offline"] == [])
    assert (back["offline_for"], back["ends_in"]) == (None, None)
    assert back["seconds"] == 0
    await again.close()


async def test_a_chat_whose_client_stays_away_before_the_start_ends_at_the_timeout_unpaid(
    live: Live,
) -> None:
    _, console, page, _, session = await _connected(live, agent_may_start=True)
    await page.close()
    await console.session(lambda s: s["offline"] == ["client"])
    live.clock.advance(seconds=91)
    await console.send(type="ping")
    await live.ctx.relay.sweep_timeouts()
    ended = await console.session(lambda s: s["status"] == "paid")
    assert (ended["end_reason"], ended["seconds"], ended["collected"]) == ("timeout", 0, 0)
    assert ended["hold_payment_id"] is None  # the hold was released


async def _waiting(console: Socket, room_id: str, count: int) -> None:
    """The console is told that ``count`` clients wait in the room."""
    await console.expect(lambda m: m.get("type") == "queues"
                         and m["queues"].get(room_id) == count)  # fmt: skip


async def test_a_busy_agent_is_told_the_new_waiting_count_when_a_client_joins_the_queue(
    live: Live,
) -> None:
    _, console, _, _, session = await _connected(live)
    room = {"id": session["room_id"]}
    second = await live.visit(room, name="Second")  # the agent is busy: the client waits
    await _waiting(console, room["id"], 1)

    third = await live.visit(room, name="Third")
    await _waiting(console, room["id"], 2)
    r = await live.http.post("/chat/api/visit/leave", headers={"X-Visit-Token": third["token"]})
    assert r.status_code == 200, r.text
    await _waiting(console, room["id"], 1)

    # the agent hangs up and is given the client who waited: nobody waits any more
    page2, _ = await live.client(second["token"])
    await console.send(type="hangup", session=session["id"])
    await _waiting(console, room["id"], 0)
    await page2.close()


async def test_a_refused_payment_request_is_answered_with_its_reason_and_a_sent_one_confirmed(
    live: Live,
) -> None:
    _, console, page, _, session = await _connected(live)
    line = {"description": "Tax return review", "quantity": 1, "unit_price": 2500}
    for items, ref in (([{**line, "unit_price": 0}], "zero"), ([line] * 51, "many"),
                       (["not a line"], "text")):  # fmt: skip
        await console.send(type="payment_request", session=session["id"], category="service",
                           items=items, ref=ref)  # fmt: skip
        error = await console.expect("error")
        # a line that is not an object is refused at the socket; the rules of lines are
        # the service's, with the API's sentences
        code = "invalid_payment_request" if ref == "text" else "invalid_line_items"
        assert (error["code"], error["ref"]) == (code, ref)
        assert "line" in error["message"].lower()
    assert not [m for m in await page.quiet() if m.get("type") == "payment_request"]

    await console.send(type="payment_request", session=session["id"], category="service",
                       items=[line], ref="good")  # fmt: skip
    done = await console.expect(lambda m: m.get("type") in ("done", "error"))
    assert done == {"type": "done", "ref": "good"}
    assert (await page.expect("payment_request"))["request"]["total"] == 2500


async def test_a_client_whose_hold_lapsed_while_waiting_is_asked_for_a_card_and_agents_told(
    live: Live,
) -> None:
    _, console, _, _, session = await _connected(live)
    room = {"id": session["room_id"]}
    held = {p["id"] for p in await _holds(live)}
    second = await live.visit(room, name="Second")  # the agent is busy: the client waits
    await _waiting(console, room["id"], 1)
    page2, _ = await live.client(second["token"])
    (lapsed,) = [p["id"] for p in await _holds(live) if p["id"] not in held]
    r = await live.t.api.post(f"/api/v1/payments/{lapsed}/cancel")  # the hold is gone
    assert r.status_code == 200, r.text

    await console.send(type="hangup", session=session["id"])  # the agent is free again
    told = await page2.expect("visit")
    assert told["visit"]["status"] == "card"  # the page asks for a card again
    await _waiting(console, room["id"], 0)  # and nobody waits any more
    await page2.close()


async def _holds(live: Live) -> list[dict[str, Any]]:
    r = await live.t.api.get("/api/v1/payments", params={"limit": 100})
    return [p for p in r.json()["data"] if p["status"] == "requires_capture"]
