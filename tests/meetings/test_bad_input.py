"""What the meeting's start page and socket refuse: unknown rooms, forged, replayed and
foreign tickets, malformed, oversized and unknown frames. Each is refused with a code and
the meeting goes on undisturbed."""

from __future__ import annotations

import json

from tests.meetings.conftest import Meet


async def test_an_unknown_code_is_not_found_on_the_start_page_and_for_a_ticket(meet: Meet) -> None:
    guest = meet.guest()
    r = await guest.start_page("zzzzzzzzzz")
    assert r.status_code == 404
    r = await guest.http.post("/m/zzzzzzzzzz/join", json={"name": "Eve"})
    assert r.status_code == 404 and r.json()["code"] == "meeting_not_found"


async def test_forged_replayed_and_foreign_tickets_are_refused(meet: Meet) -> None:
    room, host, ada = await meet.started()
    eve = meet.guest("Eve")
    eve.sock = await eve.connect("x" * 43)  # forged
    code, got = await eve.closed()
    assert code == 4401 and got[0]["code"] == "ticket_refused"

    r = await eve.ticket(room["code"])
    ticket = r.json()["ticket"]
    mallory = meet.guest("Mallory")
    await mallory.start_page(room["code"])
    mallory.sock = await mallory.connect(ticket)  # another browser's ticket
    code, got = await mallory.closed()
    assert code == 4401 and "another browser" in got[0]["message"]

    eve.sock = await eve.connect(ticket)
    await eve.sock.expect("welcome")
    eve.sock = await eve.connect(ticket)  # replayed
    code, got = await eve.closed()
    assert code == 4401 and "used already" in got[0]["message"]

    latecomer = meet.guest("Late")
    late = (await latecomer.ticket(room["code"])).json()["ticket"]
    meet.clock.advance(seconds=121)
    latecomer.sock = await latecomer.connect(late)
    code, got = await latecomer.closed()
    assert code == 4401 and "lapsed" in got[0]["message"]
    # the meeting went on: the host and Ada still talk
    await host.send(type="chat", text="still here")
    assert (await ada.expect("chat"))["text"] == "still here"


async def test_malformed_oversized_and_unknown_frames_get_errors_and_change_nothing(
    meet: Meet,
) -> None:
    room, host, ada = await meet.started()
    assert ada.sock is not None
    await ada.sock.ws.send("not json")
    await ada.error("malformed_message")
    await ada.sock.ws.send(json.dumps([1, 2]))
    await ada.error("malformed_message")
    await ada.send(type="teleport")
    await ada.error("unknown_type")
    await ada.send(type="signal", to=host.id, data="not an object")
    await ada.error("invalid_signal")
    await ada.send(type="signal", to=host.id, data={"sdp": "x" * 40_000})
    await ada.error("message_too_large")
    await ada.send(type="chat", text="")
    await ada.error("invalid_message")
    await ada.send(type="chat", text="x" * 4001)
    await ada.error("malformed_message")
    await ada.send(type="share", state="sideways")
    await ada.error("invalid_share")
    await ada.send(type="media", audio="yes")
    await ada.error("malformed_message")
    await ada.send(type="chat", text="to nobody", to="mp_not_here")
    await ada.error("participant_not_found")
    await ada.sock.ws.send(b"\x00\x01")  # binary
    await ada.error("malformed_message")
    await host.send(type="chat", text="undisturbed")
    assert (await ada.expect("chat"))["text"] == "undisturbed"


async def test_a_participant_cannot_reach_another_meeting(meet: Meet) -> None:
    room, host, ada = await meet.started()
    _, other_host = await meet.user("Otto")
    other = await meet.room(other_host, join_before_host=True)
    bob = meet.guest("Bob")
    await bob.join(other["code"])
    await bob.expect("roster")
    await ada.send(type="signal", to=bob.id, data={"sdp": {}})
    await ada.error("peer_not_found")
    await ada.send(type="chat", text="psst", to=bob.id)
    await ada.error("participant_not_found")
    await host.send(type="remove", participant=bob.id)
    await host.error("participant_not_found")
    assert [m for m in await bob.quiet() if m["type"] in ("signal", "chat", "removed")] == []


async def test_the_meeting_is_full_at_its_size(meet: Meet) -> None:
    _, host_id = await meet.user("Hana")
    room = await meet.room(host_id, join_before_host=True)
    most = meet.ctx.settings.meeting_max_participants
    for n in range(most):
        await meet.guest(f"P{n}").join(room["code"])
    r = await meet.guest("One too many").ticket(room["code"])
    assert r.status_code == 409 and r.json()["code"] == "meeting_full"


async def test_another_business_cannot_read_or_change_a_room(meet: Meet, other_tenant) -> None:
    _, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    for call in (other_tenant.api.get(f"/api/v1/meeting-rooms/{room['id']}"),
                 other_tenant.api.patch(f"/api/v1/meeting-rooms/{room['id']}",
                                        json={"topic": "mine"}),
                 other_tenant.api.get(f"/api/v1/meeting-rooms/{room['id']}/audit"),
                 other_tenant.api.post(f"/api/v1/meeting-rooms/{room['id']}/invitations",
                                       json={})):  # fmt: skip
        r = await call
        assert r.status_code == 404 and r.json()["code"] == "room_not_found"
    r = await other_tenant.api.post(
        "/api/v1/meeting-rooms", json={"host_id": host_id, "topic": "x"}
    )
    assert r.status_code == 404 and r.json()["code"] == "host_not_found"
    r = await meet.t.api.get(f"/api/v1/meeting-rooms/{room['id']}")
    assert r.json()["topic"] == "Quarterly review"


async def test_a_flood_of_joins_from_one_address_is_refused(meet: Meet) -> None:
    _, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    guest = meet.guest("Flood")
    limit = meet.ctx.settings.limit_meeting_joins_room_address.count
    for _ in range(limit):
        assert (await guest.ticket(room["code"])).status_code == 200
    r = await guest.ticket(room["code"])
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert "Retry-After" in r.headers
