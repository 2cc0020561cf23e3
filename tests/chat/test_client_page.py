"""The client's side of a chat, through its HTTP API and socket: no hold without an agent
who could take the chat, one open visit per browser and room, one client per email, the
end screen's summary, and what the page needs to say which card "Pay" charges and to tell
that its socket still reaches the server."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from fareroom.chat.live import agent_key
from tests.chat.conftest import Live, Socket
from tests.support.pages import sign_in


async def _contact(live: Live, room: dict[str, Any], *, email: str = "ada@example.com",
                   name: str = "Ada", token: str | None = None) -> Any:  # fmt: skip
    headers = {"X-Visit-Token": token} if token else {}
    return await live.http.post("/chat/api/visits", headers=headers, json={
        "room_id": room["id"], "name": name, "email": email,
        "question": "Can you help me?"})  # fmt: skip


async def _gone(live: Live, agent_id: str) -> None:
    """Until the server has seen the console close."""
    connected = live.ctx.relay.connected()
    async with asyncio.timeout(5):
        while await connected([agent_key(agent_id)]):  # noqa: ASYNC110 (the server's side)
            await asyncio.sleep(0.02)


async def _payments(live: Live) -> list[dict[str, Any]]:
    return list((await live.t.api.get("/api/v1/payments")).json()["data"])


async def _clients(live: Live) -> list[dict[str, Any]]:
    return list((await live.t.api.get("/api/v1/clients")).json()["data"])


async def test_no_visit_starts_while_no_agent_of_the_room_is_online(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent], away_message="We are back at 9 tomorrow.")
    assert room["away_message"] == "We are back at 9 tomorrow."
    console = await live.console(agent)
    await console.send(type="availability", status="away")
    await console.expect("availability")

    r = await _contact(live, room)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "no_agent_available"
    assert r.json()["away_message"] == "We are back at 9 tomorrow."
    assert "We are back at 9 tomorrow." in r.json()["detail"]
    nobody = await live.room([])
    assert (await _contact(live, nobody)).json()["code"] == "no_agent_available"
    assert await _clients(live) == []  # nothing was written


async def test_no_hold_is_placed_when_the_last_agent_left_before_the_card(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    r = await _contact(live, room)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert (await live.http.post("/chat/api/visit/terms",
                                 headers={"X-Visit-Token": token})).status_code == 200  # fmt: skip
    await console.close()  # the agent closes the console while the client reads the terms
    await _gone(live, agent["id"])

    refused = await live.give_card(token, "4242424242424242")
    assert refused.status_code == 409 and refused.json()["code"] == "no_agent_available"
    r = await live.http.get("/chat/api/visit", headers={"X-Visit-Token": token})
    assert r.json()["visit"]["status"] == "card"
    assert await _payments(live) == []  # no hold at the gateway or in our books

    await live.console(agent)  # back: now the hold is placed and the client waits
    accepted = await live.give_card(token, "4242424242424242")
    assert accepted.status_code == 200 and accepted.json()["visit"]["status"] == "waiting"


async def test_a_message_left_while_no_agent_is_available_is_listed_on_the_room_page(
    live: Live,
) -> None:
    agent = await live.agent()
    room = await live.room([agent], away_message="Closed for lunch.")
    page = await live.http.get(f"/chat/{room['id']}")
    assert 'data-available="no"' in page.text and "Closed for lunch." in page.text

    for body, code in (({"name": "Ada", "email": "nope", "message": "Call me"}, "invalid_request"),
                       ({"name": "Ada", "email": "ada@example.com", "message": "  "},
                        "invalid_request")):  # fmt: skip
        bad = await live.http.post(f"/chat/api/rooms/{room['id']}/leads", json=body)
        assert bad.status_code == 422 and bad.json()["code"] == code, bad.text
        assert "pattern" not in bad.json()["detail"]  # a sentence, never a regular expression
    r = await live.http.post(f"/chat/api/rooms/{room['id']}/leads", json={
        "name": "Ada", "email": "Ada@Example.com",
        "message": "Please call me back <b>soon</b>"})  # fmt: skip
    assert r.status_code == 201, r.text

    owner = await _owner(live)
    shown = await owner.get(f"/dashboard/rooms/{room['id']}")
    assert "None of this room's agents is online now" in shown.text
    assert "ada@example.com" in shown.text
    assert "Please call me back &lt;b&gt;soon&lt;/b&gt;" in shown.text  # text, never HTML
    assert shown.text.count("Please call me back") == 1

    await live.console(agent)
    assert "agents-warning" not in (await owner.get(f"/dashboard/rooms/{room['id']}")).text
    empty = await live.room([])
    assert "This room has no agents" in (await owner.get(f"/dashboard/rooms/{empty['id']}")).text
    await owner.aclose()


async def _owner(live: Live) -> httpx.AsyncClient:
    owner = httpx.AsyncClient(base_url=str(live.http.base_url))
    r = await sign_in(owner, live.t.owner_email, live.t.password)
    assert r.status_code == 303, r.text
    return owner


async def test_the_owner_sets_the_away_message_in_the_room_form(live: Live) -> None:
    room = await live.room([await live.agent()])
    owner = await _owner(live)
    form = await owner.get(f"/dashboard/rooms/{room['id']}")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert csrf and 'name="away_message"' in form.text
    fields = {"csrf": csrf.group(1), "name": "Advice", "terms": "You pay per minute as shown.",
              "block_price": "10.00", "block_minutes": "5", "free_minutes": "0",
              "increment_seconds": "30", "preauth_amount": "20.00", "split_threshold": "",
              "distribution": "round_robin", "agent_ids": room["agent_ids"],
              "away_message": "Back on Monday."}  # fmt: skip
    r = await owner.post(f"/dashboard/rooms/{room['id']}", data=fields)
    assert r.status_code == 303, r.text
    got = await live.t.api.get(f"/api/v1/chat-rooms/{room['id']}")
    assert got.json()["away_message"] == "Back on Monday."
    assert "Back on Monday." in (await live.http.get(f"/chat/{room['id']}")).text
    await owner.aclose()


async def test_a_browser_with_an_open_visit_gets_no_second_visit_or_hold(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    await live.console(agent)
    visit = await live.visit(room)
    page, welcome = await live.client(visit["token"])
    held = await _payments(live)

    again = await _contact(live, room, token=welcome["token"])
    assert again.status_code == 409 and again.json()["code"] == "visit_already_open"
    assert again.json()["visit_id"] == visit["id"]
    assert await _payments(live) == held and len(await _clients(live)) == 1

    # the second tab rejoins with the token the first one holds: the same visit and session
    session = await page.session(lambda s: s["status"] == "open")
    tab, welcome2 = await live.client(welcome["token"])
    assert welcome2["visit"]["id"] == visit["id"]
    assert (await tab.session(lambda s: True))["id"] == session["id"]
    await page.ws.wait_closed()
    assert page.ws.close_code == 4009  # the first tab is told another took over


async def test_a_visit_with_a_known_email_reuses_the_client_but_shows_none_of_it(
    live: Live,
) -> None:
    r = await live.t.api.post("/api/v1/clients", json={"name": "Ada Real",
                                                        "email": "ada@example.com"})  # fmt: skip
    known = r.json()
    saved = await live.t.card(known["id"])
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room, name="Someone Else")  # the same address, typed again
    assert visit["name"] == "Someone Else"  # the page shows what was typed, not the record
    page, welcome = await live.client(visit["token"])
    # the snapshot the page is greeted with (a routing update may come before it)
    snapshot = await page.expect(lambda m: m.get("type") == "session" and "card" in m)
    assert snapshot["session"]["client_id"] == known["id"]
    assert snapshot["session"]["card_id"] != saved["id"]  # the card given now, not the saved one
    assert snapshot["card"]["id"] == snapshot["session"]["card_id"]
    assert "Ada Real" not in str(welcome) + str(snapshot)
    shown = await console.expect(lambda m: m.get("type") == "session" and "client" in m)
    assert shown["client"]["name"] == "Someone Else"
    assert [c["id"] for c in await _clients(live)] == [known["id"]]


async def test_the_summary_lists_collections_paid_requests_and_the_transcript(
    live: Live,
) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room)
    page, welcome = await live.client(visit["token"])
    session = await page.session(lambda s: s["status"] == "open")
    token = welcome["token"]
    early = await live.http.get("/chat/api/visit/summary", headers={"X-Visit-Token": token})
    assert early.status_code == 200 and early.json()["total_paid"] == 0
    await console.send(type="message", session=session["id"], text="Here is the invoice.")
    await page.expect(lambda m: m.get("type") == "message" and m["party"] == "agent")
    await console.send(
        type="payment_request",
        session=session["id"],
        category="goods",
        items=[{"description": "Workbook", "quantity": 2, "unit_price": 1250}],
    )
    sent = (await page.expect("payment_request"))["request"]
    paid = await live.http.post(f"/chat/api/visit/requests/{sent['id']}/pay",
                                headers={"X-Visit-Token": token})  # fmt: skip
    assert paid.status_code == 200, paid.text
    live.clock.advance(seconds=331)
    await page.send(type="hangup")
    await page.session(lambda s: s["status"] == "paid")

    r = await live.http.get("/chat/api/visit/summary", headers={"X-Visit-Token": token})
    assert r.status_code == 200, r.text
    got = r.json()
    assert [(c["reason"], c["amount"]) for c in got["collections"]] == [("final", 1200)]
    assert [(q["id"], q["total"], q["status"]) for q in got["requests"]] == [
        (sent["id"], 2500, "paid")]  # fmt: skip
    assert (got["total_paid"], got["currency"]) == (3700, "EUR")
    assert [(m["party"], m["text"]) for m in got["messages"]] == [
        ("client", "Can you help me with my tax return?"),
        ("agent", "Here is the invoice."),
    ]
    assert all(m["at"] for m in got["messages"])


async def test_the_summary_of_a_chat_with_nothing_due_lists_no_zero_payment(
    live: Live,
) -> None:
    # hung up before anything was due: the hold is released, nothing was paid, and the end
    # screen showed a line "Chat time … 0.00 EUR" for the released hold
    agent = await live.agent()
    room = await live.room([agent])
    await live.console(agent)
    visit = await live.visit(room)
    page, welcome = await live.client(visit["token"])
    await page.session(lambda s: s["status"] == "open")
    await page.send(type="hangup")
    await page.session(lambda s: s["status"] == "paid")
    r = await live.http.get("/chat/api/visit/summary",
                            headers={"X-Visit-Token": welcome["token"]})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["collections"], r.json()["total_paid"]) == ([], 0)


async def test_the_summary_needs_a_chat_and_the_visits_token(live: Live) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    await live.console(agent)
    visit = await live.visit(room)
    r = await live.http.get("/chat/api/visit/summary", headers={"X-Visit-Token": visit["token"]})
    assert r.status_code == 409 and r.json()["code"] == "visit_not_connected"
    r = await live.http.get("/chat/api/visit/summary", headers={"X-Visit-Token": "vis_x.y"})
    assert r.status_code == 401 and r.json()["code"] == "resume_token_invalid"


def _snapshot(frame: dict) -> bool:
    return frame.get("type") == "session" and "messages" in frame


async def _connected_page(live: Live) -> tuple[Socket, Socket, dict[str, Any], dict[str, Any]]:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    visit = await live.visit(room)
    page, welcome = await live.client(visit["token"])
    # the snapshot the page follows the session with (an update of the session published as
    # the page starts listening may come before it)
    snapshot = await page.expect(_snapshot)
    await console.session(lambda s: s["id"] == snapshot["session"]["id"])
    return page, console, welcome, snapshot


async def test_the_clients_chat_names_the_card_its_payments_are_charged_to(live: Live) -> None:
    page, _, welcome, snapshot = await _connected_page(live)
    assert {k: snapshot["card"][k] for k in ("brand", "last4")} == {"brand": "visa",
                                                                     "last4": "4242"}  # fmt: skip
    r = await live.http.post("/chat/api/visit/session-card",
                             headers={"X-Visit-Token": welcome["token"]},
                             json={"token": await live.card_token("5555555555554444")})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["card"]["brand"], r.json()["card"]["last4"]) == ("mastercard", "4444")
    assert r.json()["card"]["id"] == r.json()["session"]["card_id"]


async def test_a_ping_that_asks_for_an_answer_gets_a_pong_and_a_plain_one_nothing(
    live: Live,
) -> None:
    page, console, _, _ = await _connected_page(live)
    for sock in (page, console):
        await sock.send(type="ping")
        assert not [m for m in await sock.quiet(0.3) if m.get("type") == "pong"]
        await sock.send(type="ping", reply=True)
        assert (await sock.expect("pong", within=2)) == {"type": "pong"}


async def test_a_clients_message_comes_back_with_the_pages_own_ref(live: Live) -> None:
    page, console, _, _ = await _connected_page(live)
    await page.send(type="message", text="first", ref="m1")
    mine = await page.expect(lambda m: m.get("type") == "message" and m["party"] == "client")
    assert (mine["text"], mine["ref"]) == ("first", "m1")
    assert (await console.expect("message"))["text"] == "first"
    await page.send(type="message", text="  ", ref="m2")
    refused = await page.expect("error")
    assert (refused["code"], refused["ref"]) == ("empty_message", "m2")


async def test_a_message_resent_after_a_reconnect_is_not_stored_twice(live: Live) -> None:
    page, console, welcome, _ = await _connected_page(live)
    await page.send(type="message", text="Are you there?", ref="m1")
    first = await page.expect(lambda m: m.get("type") == "message" and m["party"] == "client")
    await console.expect(lambda m: m.get("type") == "message" and m["text"] == "Are you there?")
    # the echo was lost with the connection: the page reconnects and sends the message again
    await page.close()
    again, back = await live.client(welcome["token"])
    # the greeting snapshot (an update of the session, published as the old page's going is
    # recorded, may come before it)
    joined = await again.expect(_snapshot)
    await again.send(type="message", text="Are you there?", ref="m1")
    echo = await again.expect(lambda m: m.get("type") == "message" and m.get("ref") == "m1")
    assert (echo["id"], echo["text"]) == (first["id"], "Are you there?")  # the stored one
    assert (await again.expect("done"))["ref"] == "m1"
    assert not [m for m in await console.quiet() if m.get("type") == "message"]  # said once
    await again.close()
    page3, _ = await live.client(back["token"])
    texts = [m["text"] for m in (await page3.expect(_snapshot))["messages"]]
    assert texts.count("Are you there?") == 1, texts
    assert [m["text"] for m in joined["messages"]].count("Are you there?") == 1
    # the same text without a ref is a message of its own
    await page3.send(type="message", text="Are you there?")
    await console.expect(lambda m: m.get("type") == "message" and m["text"] == "Are you there?")
