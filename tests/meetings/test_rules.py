"""Every rule of a meeting, enforced by the server (docs/meetings.md), without a browser:
real WebSocket clients against a live server."""

from __future__ import annotations

from tests.meetings.conftest import Meet


async def test_participants_wait_for_the_host_and_are_let_in_when_the_host_comes(
    meet: Meet,
) -> None:
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    ada = meet.guest("Ada")
    await ada.join(room["code"])
    assert (await ada.expect("lobby"))["reason"] == "waiting_for_host"
    await ada.send(type="chat", text="hello?")
    await ada.error("in_lobby")

    await host.join(room["code"])
    roster = await host.expect("roster")
    assert [p["name"] for p in roster["participants"]] == ["Ada", "Hana"] or [
        p["name"] for p in roster["participants"]] == ["Hana", "Ada"]  # fmt: skip
    await ada.expect("admitted")
    names = {p["name"] for p in (await ada.expect("roster"))["participants"]}
    assert names == {"Ada", "Hana"}
    assert host.welcome["you"]["host"] is True and ada.welcome["you"]["host"] is False


async def test_people_let_in_from_the_lobby_can_signal_each_other_at_once(meet: Meet) -> None:
    """When a host comes, the first to be let in may offer to the others before their pages
    are in: each page hears a signal only after its roster, and can answer it at once."""
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    ada, bob = meet.guest("Ada"), meet.guest("Bob")
    for p in (ada, bob):
        await p.join(room["code"])
        await p.expect("lobby")
    await host.join(room["code"])
    await ada.expect("roster")
    await ada.send(type="signal", to=bob.id, data={"sdp": {"type": "offer", "sdp": "v=0"}})
    first = await bob.expect(lambda m: m["type"] in ("roster", "signal"))
    assert first["type"] == "roster", first
    assert (await bob.expect("signal"))["from"] == ada.id
    await bob.send(type="signal", to=ada.id, data={"sdp": {"type": "answer", "sdp": "v=0"}})
    got = await ada.expect(lambda m: m["type"] in ("signal", "error"))
    assert got["type"] == "signal" and got["from"] == bob.id, got
    assert [m for m in await bob.quiet() if m["type"] == "error"] == []


async def test_join_before_host_lets_participants_start_without_the_host(meet: Meet) -> None:
    _, host_id = await meet.user("Hana")
    room = await meet.room(host_id, join_before_host=True)
    ada, bob = meet.guest("Ada"), meet.guest("Bob")
    await ada.join(room["code"])
    assert [p["name"] for p in (await ada.expect("roster"))["participants"]] == ["Ada"]
    await bob.join(room["code"])
    await bob.expect("roster")
    joined = await ada.expect("joined")
    assert joined["participant"]["name"] == "Bob"


async def test_a_wrong_password_is_refused_and_tries_are_limited(meet: Meet) -> None:
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id, password="tulip 42")
    ada = meet.guest("Ada")
    r = await ada.ticket(room["code"])
    assert r.status_code == 403 and r.json()["code"] == "password_required"
    for _ in range(5):
        r = await ada.ticket(room["code"], password="rose")
        assert r.status_code == 403 and r.json()["code"] == "wrong_password"
    r = await ada.ticket(room["code"], password="tulip 42")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    meet.clock.advance(seconds=601)
    r = await ada.ticket(room["code"], password="tulip 42")
    assert r.status_code == 200, r.text
    await host.join(room["code"])  # the host needs no password


async def test_a_locked_meeting_lets_no_one_new_in_until_unlocked(meet: Meet) -> None:
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    await host.join(room["code"])
    await host.expect("roster")
    ada = meet.guest("Ada")
    early = await ada.ticket(room["code"])  # a ticket got before the lock
    await host.send(type="lock")
    assert (await host.expect("room"))["room"]["locked"] is True
    r = await meet.guest("Bob").ticket(room["code"])
    assert r.status_code == 423 and r.json()["code"] == "meeting_locked"
    ada.sock = await ada.connect(early.json()["ticket"])
    code, got = await ada.closed()
    assert code == 4423 and got[0]["code"] == "meeting_locked"

    await host.send(type="unlock")
    assert (await host.expect("room"))["room"]["locked"] is False
    await meet.guest("Bob").join(room["code"])
    assert (await host.expect("joined"))["participant"]["name"] == "Bob"


async def test_someone_in_a_locked_meeting_whose_connection_drops_comes_back_in(
    meet: Meet,
) -> None:
    """The lock keeps newcomers out, not the people who were in: a page that lost its
    connection comes back with its welcome's ticket; a newcomer is still refused."""
    room, host, ada = await meet.started()
    await host.send(type="lock")
    assert (await host.expect("room"))["room"]["locked"] is True
    rejoin, first_id = ada.welcome["rejoin"], ada.id
    assert ada.sock is not None
    await ada.sock.ws.close()  # the network went
    left = await host.expect("left")
    assert left["participant"] == first_id
    ada.sock = await ada.connect(rejoin)
    ada.welcome = await ada.sock.expect("welcome")
    await ada.expect("roster")
    assert (await host.expect("joined"))["participant"]["name"] == "Ada"
    r = await meet.guest("Bob").ticket(room["code"])
    assert r.status_code == 423 and r.json()["code"] == "meeting_locked"


async def test_end_for_all_disconnects_everyone_and_nobody_enters_until_a_host_starts_it(
    meet: Meet,
) -> None:
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id)
    await host.join(room["code"])
    ada = meet.guest("Ada")
    await ada.join(room["code"])
    await ada.expect("roster")
    await host.send(type="end")
    for person in (host, ada):
        code, got = await person.closed()
        assert code == 4410 and any(m["type"] == "ended" for m in got)

    bob = meet.guest("Bob")
    await bob.join(room["code"])
    assert (await bob.expect("lobby"))["reason"] == "meeting_ended"
    await host.join(room["code"])  # the host starts it again
    await bob.expect("admitted")
    assert {p["name"] for p in (await bob.expect("roster"))["participants"]} == {"Bob", "Hana"}


async def test_a_removed_participant_cannot_come_back_and_the_audit_trail_says_who(
    meet: Meet,
) -> None:
    room, host, ada = await meet.started()
    await host.send(type="remove", participant=ada.id)
    left = await host.expect("left")
    assert (left["participant"], left["reason"]) == (ada.id, "removed")
    code, got = await ada.closed()
    assert code == 4403 and got[-1]["type"] == "removed"

    # the same browser, the same link: refused, by ticket and by hello
    r = await ada.ticket(room["code"])
    assert r.status_code == 403 and r.json()["code"] == "removed_from_meeting"
    # another name does not help: the device is banned
    r = await ada.ticket(room["code"], name="Not Ada")
    assert r.status_code == 403
    entries = await meet.audit(room["id"])
    removal = next(e for e in entries if e["action"] == "removed")
    assert removal["actor"]["name"] == "Hana" and removal["subject"]["name"] == "Ada"
    assert removal["subject"]["identity"].startswith("guest:")


async def test_host_commands_from_a_participant_are_refused_and_change_nothing(
    meet: Meet,
) -> None:
    room, host, ada = await meet.started()
    for frame in ({"type": "lock"}, {"type": "end"}, {"type": "remove", "participant": host.id},
                  {"type": "mute", "participant": host.id}, {"type": "mute", "all": True},
                  {"type": "record_grant", "participant": ada.id},
                  {"type": "share_pause", "participant": host.id},
                  {"type": "settings", "allow_unmute": False}):  # fmt: skip
        await ada.send(**frame)
        await ada.error("host_only")
    r = await meet.t.api.get(f"/api/v1/meeting-rooms/{room['id']}")
    assert r.json()["locked"] is False and r.json()["status"] == "live"
    assert [m for m in await host.quiet() if m["type"] in ("room", "left", "muted", "ended")] == []


async def test_mute_all_holds_until_the_host_allows_unmuting(meet: Meet) -> None:
    room, host, ada = await meet.started(allow_unmute=False)
    await host.send(type="mute", all=True, audio=True)
    muted = await ada.expect("muted")
    assert muted["audio"] is True
    await ada.send(type="media", audio=True)
    await ada.error("unmute_not_allowed")
    await host.send(type="settings", allow_unmute=True)
    await ada.expect("room")
    await ada.send(type="media", audio=True)
    changed = await host.expect(lambda m: m["type"] == "participant"
                                and m["participant"]["id"] == ada.id
                                and m["participant"]["audio"] is True)  # fmt: skip
    assert changed["participant"]["muted_by_host"]["audio"] is False


async def test_a_private_message_reaches_only_its_target_and_its_sender(meet: Meet) -> None:
    host, host_id = await meet.user("Hana")
    room = await meet.room(host_id, join_before_host=True)
    await host.join(room["code"])
    ada, bob = meet.guest("Ada"), meet.guest("Bob")
    await ada.join(room["code"])
    await bob.join(room["code"])
    await bob.expect("roster")
    await host.send(type="chat", text="Only for Ada", to=ada.id)
    got = await ada.expect("chat")
    assert (got["text"], got["to"], got["from"]) == ("Only for Ada", ada.id, host.id)
    assert (await host.expect("chat"))["text"] == "Only for Ada"
    assert [m for m in await bob.quiet() if m["type"] == "chat"] == []
    await host.send(type="chat", text="For everyone")
    assert (await bob.expect("chat"))["text"] == "For everyone"


async def test_signals_reach_only_the_named_participant_with_the_sender_set_by_the_server(
    meet: Meet,
) -> None:
    _, host_id = await meet.user("Hana")
    room = await meet.room(host_id, join_before_host=True)
    ada, bob, cy = meet.guest("Ada"), meet.guest("Bob"), meet.guest("Cy")
    for p in (ada, bob, cy):
        await p.join(room["code"])
        await p.expect("roster")
    await ada.expect(lambda m: m["type"] == "joined" and m["participant"]["name"] == "Cy")
    await ada.send(type="signal", to=bob.id, data={"sdp": {"type": "offer", "sdp": "v=0"}},
                   **{"from": cy.id})  # fmt: skip
    got = await bob.expect("signal")
    assert got["from"] == ada.id and got["data"]["sdp"]["type"] == "offer"
    assert [m for m in await cy.quiet() if m["type"] == "signal"] == []
    await ada.send(type="signal", to="mp_someone_else", data={"candidate": {}})
    await ada.error("peer_not_found")


async def test_recording_needs_a_hosts_grant_and_the_host_can_revoke_it(meet: Meet) -> None:
    room, host, ada = await meet.started()
    await ada.send(type="recording", on=True)
    await ada.error("recording_not_permitted")
    await ada.send(type="record_request")
    asked = await host.expect("record_requested")
    assert asked["participant"]["id"] == ada.id
    await host.send(type="record_grant", participant=ada.id)
    assert (await ada.expect("record_answer"))["granted"] is True
    await ada.send(type="recording", on=True)
    seen = await host.expect(lambda m: m["type"] == "participant"
                             and m["participant"]["recording"] is True)  # fmt: skip
    assert seen["participant"]["id"] == ada.id
    await host.send(type="record_revoke", participant=ada.id)
    await ada.expect("record_revoked")
    await ada.send(type="recording", on=True)
    await ada.error("recording_not_permitted")
    actions = [e["action"] for e in await meet.audit(room["id"])]
    for action in ("record_request", "record_grant", "recording_started", "record_revoke"):
        assert action in actions


async def test_a_host_pauses_a_share_and_the_sharer_cannot_resume_it_alone(meet: Meet) -> None:
    room, host, ada = await meet.started()
    await host.send(type="share_pause", participant=ada.id)
    await host.error("not_sharing")
    await ada.send(type="share", state="on")
    await host.expect(lambda m: m["type"] == "participant" and m["participant"]["sharing"] == "on")
    await host.send(type="share_pause", participant=ada.id)
    await ada.expect("share_paused")
    await ada.send(type="share", state="on")
    await ada.error("share_paused_by_host")
    await host.send(type="share_resume", participant=ada.id)
    await ada.expect("share_resumed")
    changed = await host.expect(lambda m: m["type"] == "participant"
                                and m["participant"]["sharing"] == "on")  # fmt: skip
    assert changed["participant"]["id"] == ada.id


async def test_a_participant_nobody_hears_any_more_is_taken_out_by_the_worker(
    meet: Meet,
) -> None:
    room, host, ada = await meet.started()
    # Ada's process dies: her page is still open here, but nobody reports her as heard
    await meet.ctx.hub.forget([f"mp:{ada.id}"])
    await meet.ctx.hub.touch({f"mp:{host.id}": meet.clock.now().timestamp() + 60})
    meet.clock.advance(seconds=meet.ctx.settings.offline_after_seconds + 1)
    await meet.ctx.hub.touch({f"mp:{host.id}": meet.clock.now().timestamp()})
    assert await meet.ctx.meeting_jobs.sweep() >= 1
    left = await host.expect("left")
    assert (left["participant"], left["reason"]) == (ada.id, "offline")
    assert await meet.ctx.meeting_jobs.sweep() == 0
