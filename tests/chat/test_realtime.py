"""The chat's WebSocket protocol without a browser: a client's page and an agent's console
against a live server, on the suite's frozen clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from websockets.exceptions import ConnectionClosed

from fareroom.chat.live import visit_key
from fareroom.chat.realtime import ClientPage
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
    await live.ctx.meters.tick()
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
    away, gone, busy = await live.agent("Away"), await live.agent("Gone"), await live.agent("Busy")
    room = await live.room([away, gone, busy])
    await live.console(busy)  # online but in a chat: the room takes clients, who queue
    first, _ = await live.client((await live.visit(room, name="First"))["token"])
    await first.session(lambda s: s["agent_id"] == busy["id"])
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


async def _connected(live: Live, **room: object) -> tuple:
    agent = await live.agent()
    room_ = await live.room([agent], **room)
    console = await live.console(agent)
    visit = await live.visit(room_)
    page, welcome = await live.client(visit["token"])
    session = await page.session(lambda s: s["status"] == "open")
    await console.session(lambda s: s["id"] == session["id"])
    return agent, console, page, welcome, session


async def _events(live: Live, session_id: str) -> list[tuple[str, str | None]]:
    r = await live.t.api.get(f"/api/v1/chat-sessions/{session_id}/events")
    return [(e["kind"], e["party"]) for e in r.json()["data"]]


async def test_malformed_oversized_and_unknown_messages_are_refused_and_change_nothing(
    live: Live,
) -> None:
    _, console, page, _, session = await _connected(live)
    big = "x" * (live.ctx.settings.ws_max_message_bytes + 1)
    for raw, code in (("not json", "malformed_message"), ("[1, 2]", "malformed_message"),
                      ('{"type": "dance", "ref": "r1"}', "unknown_type"),
                      ('{"type": "message", "text": "' + big + '"}', "message_too_large"),
                      ('{"type": "message", "text": "   "}', "empty_message")):  # fmt: skip
        await page.ws.send(raw)
        error = await page.expect("error")
        assert error["code"] == code, raw[:40]
        assert error["message"]
    await page.ws.send(b"\x00\x01")
    assert (await page.expect("error"))["code"] == "malformed_message"
    await console.send(type="meter", session=session["id"], action="explode", ref="m1")
    error = await console.expect("error")
    assert (error["code"], error["ref"]) == ("invalid_event", "m1")
    # nothing was said or recorded, and the socket still works
    assert not [m for m in await console.quiet() if m.get("type") == "message"]
    assert await _events(live, session["id"]) == []
    await page.send(type="message", text="still here")
    assert (await console.expect("message"))["text"] == "still here"


async def test_messages_for_another_session_are_refused(live: Live) -> None:
    _, console1, page1, _, session1 = await _connected(live)
    _, console2, page2, _, session2 = await _connected(live)
    await console1.send(type="message", session=session2["id"], text="not mine")
    assert (await console1.expect("error"))["code"] == "session_not_found"
    await console1.send(type="hangup", session=session2["id"])
    assert (await console1.expect("error"))["code"] == "session_not_found"
    await page1.send(type="message", session=session2["id"], text="wrong chat")
    assert (await page1.expect("error"))["code"] == "session_not_found"
    assert not [m for m in await page2.quiet() if m.get("type") == "message"]
    state = await live.t.api.get(f"/api/v1/chat-sessions/{session2['id']}")
    assert state.json()["status"] == "open" and await _events(live, session2["id"]) == []


async def test_a_replayed_resume_token_is_refused_without_disturbing_the_session(
    live: Live,
) -> None:
    visit_token = None
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room)
    visit_token = visit["token"]
    page, welcome = await live.client(visit_token)
    session = await page.session(lambda s: s["status"] == "open")
    await console.session(lambda s: s["id"] == session["id"])

    thief = await live.socket("/ws/client")
    await thief.send(type="hello", token=visit_token)  # the token the page used: spent
    refused = await thief.expect("error")
    assert refused["code"] == "resume_token_invalid"
    await thief.ws.wait_closed()
    assert thief.ws.close_code == 4401
    for forged in (welcome["token"] + "x", "vis_nope.secret", 42, None):
        other = await live.socket("/ws/client")
        await other.send(type="hello", token=forged)
        assert (await other.expect("error"))["code"] == "resume_token_invalid"
    r = await live.http.get("/chat/api/visit", headers={"X-Visit-Token": visit_token})
    assert r.status_code == 401 and r.json()["code"] == "resume_token_invalid"
    # the rightful page was not touched: no presence change, the chat goes on
    await page.send(type="message", text="still me")
    assert (await console.expect("message"))["text"] == "still me"
    assert await _events(live, session["id"]) == []


async def test_a_reloaded_page_rejoins_the_same_session_and_agent(live: Live) -> None:
    agent, console, page, welcome, session = await _connected(live)
    await page.send(type="message", text="before the reload")
    await console.expect("message")
    live.clock.advance(seconds=20)
    await page.close()
    offline = await console.session(lambda s: s["offline"] == ["client"])
    assert offline["meter"] == "offline"

    live.clock.advance(seconds=3)
    again, welcome2 = await live.client(welcome["token"])
    resumed = await again.expect("session")
    assert resumed["session"]["id"] == session["id"]
    assert resumed["session"]["agent_id"] == agent["id"]
    assert [m["text"] for m in resumed["messages"]][-1] == "before the reload"
    back = await console.session(lambda s: s["offline"] == [] and s["meter"] == "running")
    assert back["seconds"] == 20  # the 3 s away are not charged
    assert welcome2["token"] not in (welcome["token"], None)


async def test_a_silent_page_is_offline_from_its_last_heartbeat_and_times_out(
    live: Live,
) -> None:
    _, console, page, _, session = await _connected(live)
    live.clock.advance(seconds=60)
    await page.send(type="ping")  # the client's last heartbeat, at 60 s
    await console.send(type="ping")
    await console.quiet(0.2)
    live.clock.advance(seconds=25)
    assert await live.stale() == 0  # 25 s of silence: not yet
    await console.send(type="ping")  # the agent's console keeps beating
    await console.quiet(0.2)
    live.clock.advance(seconds=6)
    assert await live.stale() >= 1  # 31 s: gone, counted from the heartbeat
    state = await console.session(lambda s: s["offline"] == ["client"])
    assert state["seconds"] == 60
    r = await live.t.api.get(f"/api/v1/chat-sessions/{session['id']}/events")
    offline = r.json()["data"][-1]
    assert offline["kind"] == "offline" and offline["party"] == "client"

    for _ in range(3):  # 91 s after the heartbeat; the console beats on
        live.clock.advance(seconds=20)
        await console.send(type="ping")
        await console.quiet(0.1)
    await live.ctx.relay.sweep_timeouts()
    ended = await console.session(lambda s: s["status"] == "paid")
    assert (ended["end_reason"], ended["seconds"], ended["collected"]) == ("timeout", 60, 1000)


async def test_the_agent_is_told_when_the_client_goes_and_comes_back(live: Live) -> None:
    _, console, page, welcome, session = await _connected(live)
    await page.close()
    await console.session(lambda s: s["offline"] == ["client"])
    again, _ = await live.client(welcome["token"])
    await console.session(lambda s: s["offline"] == [])
    await console.close()
    await again.session(lambda s: s["offline"] == ["agent"])


SMALL_HOLD = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 500}
CHARGE_FAILS = "4000000000000341"  # attaches, every charge fails


async def test_a_card_that_attaches_but_cannot_be_charged_is_replaced_before_connecting(
    live: Live,
) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    await live.console(agent)
    r = await live.http.post("/chat/api/visits", json={
        "room_id": room["id"], "name": "Ada", "email": "ada@example.com",
        "question": "Hi"})  # fmt: skip
    token = r.json()["token"]
    await live.http.post("/chat/api/visit/terms", headers={"X-Visit-Token": token})
    declined = await live.give_card(token, CHARGE_FAILS)
    assert declined.status_code == 402 and declined.json()["code"] == "card_declined"
    r = await live.http.get("/chat/api/visit", headers={"X-Visit-Token": token})
    assert r.json()["visit"]["status"] == "card"  # nothing changed: still asked for a card
    accepted = await live.give_card(token, "4242424242424242")
    assert accepted.status_code == 200 and accepted.json()["visit"]["status"] == "waiting"


async def _failed_final_charge(live: Live) -> tuple:
    _, console, page, welcome, session = await _connected(live, tariff=SMALL_HOLD)
    token = welcome["token"]
    r = await live.http.post("/chat/api/visit/session-card", headers={"X-Visit-Token": token},
                             json={"token": await live.card_token(CHARGE_FAILS)})  # fmt: skip
    assert r.status_code == 200, r.text
    live.clock.advance(seconds=100)
    await page.send(type="hangup")
    failed = await console.session(lambda s: s["status"] == "payment_failed")
    assert (failed["price"], failed["collected"], failed["due"]) == (1000, 500, 500)
    assert failed["failure"]
    await page.session(lambda s: s["status"] == "payment_failed")
    return console, page, token, failed


async def test_a_failed_charge_is_paid_with_another_card_given_in_the_page(live: Live) -> None:
    console, page, token, failed = await _failed_final_charge(live)
    r = await live.http.post("/chat/api/visit/session-card", headers={"X-Visit-Token": token},
                             json={"token": await live.card_token("5555555555554444")})  # fmt: skip
    assert r.status_code == 200, r.text
    paid = await console.session(lambda s: s["status"] == "paid")
    assert (paid["collected"], paid["due"]) == (1000, 0)
    await page.session(lambda s: s["status"] == "paid")


async def test_the_agent_hangs_up_anyway_and_the_unpaid_part_is_abandoned(live: Live) -> None:
    console, page, token, failed = await _failed_final_charge(live)
    await console.send(type="abandon", session=failed["id"])
    gone = await page.session(lambda s: s["status"] == "abandoned")
    assert (gone["collected"], gone["abandoned"], gone["due"]) == (500, 500, 0)
    r = await live.http.post("/chat/api/visit/session-card", headers={"X-Visit-Token": token},
                             json={"token": await live.card_token("4242424242424242")})  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "session_settled"


async def test_an_agent_sends_a_payment_request_that_the_client_pays(live: Live) -> None:
    _, console, page, welcome, session = await _connected(live)
    await console.send(
        type="payment_request",
        session=session["id"],
        category="goods",
        items=[{"description": "Workbook", "quantity": 2, "unit_price": 1250}],
    )
    sent = (await page.expect("payment_request"))["request"]
    assert (sent["total"], sent["status"]) == (2500, "open")
    r = await live.http.post(f"/chat/api/visit/requests/{sent['id']}/pay",
                             headers={"X-Visit-Token": welcome["token"]})  # fmt: skip
    assert r.status_code == 200, r.text
    paid = await console.expect(lambda m: m.get("type") == "payment_request"
                                and m["request"]["status"] == "paid")  # fmt: skip
    assert paid["request"]["payment_id"]


async def test_the_console_needs_a_signed_in_agent_from_this_site(live: Live) -> None:
    for headers in ({}, {"Cookie": "fareroom_session=forged"}):
        sock = await live.socket("/ws/agent", **headers)
        await sock.send(type="hello")
        assert (await sock.expect("error"))["code"] == "not_signed_in"
        await sock.ws.wait_closed()
        assert sock.ws.close_code == 4401
    agent = await live.agent()
    sock = await live.socket("/ws/agent", Cookie=f"fareroom_session={agent['cookie']}",
                             Origin="http://evil.example")  # fmt: skip
    await sock.send(type="hello")
    assert (await sock.expect("error"))["code"] == "origin_forbidden"
    await sock.ws.wait_closed()
    assert sock.ws.close_code == 4401


async def test_the_chat_page_and_embed_script_are_public_and_name_the_room(live: Live) -> None:
    room = await live.room([await live.agent()])
    page = await live.http.get(f"/chat/{room['id']}")
    assert page.status_code == 200 and "Advice" in page.text and "/ws/client" not in page.text
    assert 'data-room="' + room["id"] in page.text
    script = await live.http.get(f"/chat/{room['id']}/embed.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert f"/chat/{room['id']}" in script.text
    missing = await live.http.get("/chat/room_nope")
    assert missing.status_code == 404


async def test_a_hello_the_server_cannot_complete_is_answered_and_closed_cleanly(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    await live.console(agent)
    visit = await live.visit(room)

    async def database_down(self: ClientPage, data: dict) -> None:
        raise RuntimeError("the database did not answer")

    monkeypatch.setattr(ClientPage, "hello", database_down)
    sock = await live.socket("/ws/client")
    await sock.send(type="hello", token=visit["token"])
    assert (await sock.expect("error"))["code"] == "internal_error"
    with pytest.raises(ConnectionClosed) as closed:
        await sock.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    monkeypatch.undo()
    # nothing was changed: the same token greets the page once the server can
    _, welcome = await live.client(visit["token"])
    assert welcome["visit"]["status"] == "waiting"


async def test_the_presence_sweep_records_whom_no_process_hears_but_not_a_page_heard_meanwhile(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's safety net for pages whose process died: parties not heard for the
    offline window are recorded offline from when they were last heard, unless their page
    is heard while the sweep runs (a page reconnecting after a restart)."""
    _, console, page, welcome, session = await _connected(live)
    hub = live.ctx.hub
    client = visit_key(welcome["visit"]["id"])
    live.clock.advance(seconds=40)  # neither page heard for 40 s, as if their process died
    looked = hub.last_seen

    async def client_beats_after_the_first_look(keys: Sequence[str]) -> dict[str, float]:
        found = await looked(keys)
        monkeypatch.setattr(hub, "last_seen", looked)
        await hub.touch({client: live.clock.now().timestamp()})
        return found

    monkeypatch.setattr(hub, "last_seen", client_beats_after_the_first_look)
    assert await live.ctx.relay.sweep_presence() >= 1  # (other tests' chats may be swept too)
    assert await _events(live, session["id"]) == [("offline", "agent")]
    state = await page.session(lambda s: s["offline"] == ["agent"])
    assert state["seconds"] == 0  # offline from the console's last heartbeat, at the start
