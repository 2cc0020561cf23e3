"""A paid meeting's door, over the start page's JSON and the meeting's socket (a live
server, real WebSockets): a registrant's code lets one person in at a time, at the time of
its meeting, while its registration holds its seat; the host needs none; a removal bars
the code whatever the device."""

from __future__ import annotations

from typing import Any

from fareroom.kit.clock import FrozenClock
from tests.meetings.conftest import Meet, Person
from tests.registrations.conftest import Paid


async def _meeting(paid: Paid, clock: FrozenClock, **fields: Any) -> tuple[dict, dict, dict]:
    room = await paid.room(days=2, join_before_host=True)
    meeting = await paid.meeting(room=room, **fields)
    reg = await paid.registered(meeting["code"])
    clock.advance(days=2, minutes=-10)  # ten minutes before the start
    return room, meeting, reg


async def _owner(meet: Meet, paid: Paid) -> Person:
    async with meet.ctx.unit_of_work() as s:
        cookie = await s.accounts.login(email=paid.t.owner_email, password=paid.t.password)
    http = meet.browser()
    http.cookies.set("fareroom_session", cookie)
    return Person(meet, "Owner", http)


async def test_a_registrant_joins_with_their_code_and_only_one_device_at_a_time(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room, _, reg = await _meeting(paid, clock)
    code = reg["codes"][0]["display"]
    page = await meet.guest("Ada").start_page(room["code"])
    assert 'id="join-code"' in page.text
    ada = meet.guest("Ada")
    welcome = await ada.join(room["code"], code=code)
    assert welcome["you"]["name"] == "Ada Lovelace"  # the registration's name, not the form's
    # another device with the same code, while Ada is in
    r = await meet.guest("Eve").ticket(room["code"], code=code)
    assert r.status_code == 409 and r.json()["code"] == "code_in_use", r.text
    # the host needs no code
    owner = await _owner(meet, paid)
    host = await owner.join(room["code"])
    assert host["you"]["host"] is True


async def test_no_code_a_wrong_one_or_one_at_the_wrong_time_is_refused(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room = await paid.room(days=2, join_before_host=True)
    meeting = await paid.meeting(room=room)
    reg = await paid.registered(meeting["code"])
    code = reg["codes"][0]["code"]
    guest = meet.guest("Mallory")
    early = await guest.ticket(room["code"], code=code)
    assert early.status_code == 403 and early.json()["code"] == "code_not_now", early.text
    assert "30 minutes before" in early.json()["detail"]
    clock.advance(days=2, minutes=-10)
    none = await guest.ticket(room["code"])
    assert none.status_code == 403 and none.json()["code"] == "code_required"
    wrong = await guest.ticket(room["code"], code="abc-defg-hjk")
    assert wrong.status_code == 403 and wrong.json()["code"] == "code_invalid"
    # another paid meeting's code does not open this one
    other = await paid.meeting(room=await paid.room(days=0.01, join_before_host=True))
    other_reg = await paid.registered(other["code"], name="Bob", email="bob@example.com")
    foreign = await guest.ticket(room["code"], code=other_reg["codes"][0]["code"])
    assert foreign.status_code == 403 and foreign.json()["code"] == "code_invalid"
    clock.advance(hours=2)  # the meeting is over
    late = await guest.ticket(room["code"], code=code)
    assert late.status_code == 403 and late.json()["code"] == "code_not_now"


async def test_a_refunded_registrations_code_no_longer_admits(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room, _, reg = await _meeting(paid, clock)
    r = await paid.t.api.post(f"/api/v1/registrations/{reg['id']}/refunds", json={})
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    refused = await meet.guest("Ada").ticket(room["code"], code=reg["codes"][0]["code"])
    assert refused.status_code == 403 and refused.json()["code"] == "code_revoked"


async def test_the_hosts_removal_bars_the_code_on_any_device(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room, _, reg = await _meeting(paid, clock)
    code = reg["codes"][0]["code"]
    owner = await _owner(meet, paid)
    await owner.join(room["code"])
    await owner.expect("roster")
    ada = meet.guest("Ada")
    await ada.join(room["code"], code=code)
    joined = await owner.expect("joined")
    await owner.send(type="remove", participant=joined["participant"]["id"])
    await owner.expect("left")
    r = await meet.guest("Ada on her phone").ticket(room["code"], code=code)
    assert r.status_code == 403 and r.json()["code"] == "removed_from_meeting", r.text


async def test_wrong_codes_are_counted_per_room_and_address(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room, _, reg = await _meeting(paid, clock)
    guest = meet.guest("Mallory")
    limit = paid.ctx.settings.limit_meeting_password.count
    for _ in range(limit):
        r = await guest.ticket(room["code"], code="abc-defg-hjk")
        assert r.json()["code"] == "code_invalid"
    r = await guest.ticket(room["code"], code=reg["codes"][0]["code"])
    assert r.status_code == 429, r.text  # even the right code, until the window passes
    clock.advance(seconds=paid.ctx.settings.limit_meeting_password.seconds + 1)
    r = await guest.ticket(room["code"], code=reg["codes"][0]["code"])
    assert r.status_code == 200, r.text


async def test_after_a_refund_the_code_ends_for_the_page_coming_back_and_used_codes_stay(
    meet: Meet, paid: Paid, clock: FrozenClock
) -> None:
    room, meeting, reg = await _meeting(paid, clock)
    ada = meet.guest("Ada")
    welcome = await ada.join(room["code"], code=reg["codes"][0]["code"])
    # once in, the registrant cannot cancel for a refund herself
    r = await paid.cancel(meeting["code"], reg)
    assert r.status_code == 409 and r.json()["code"] == "code_used", r.text
    # the host refunds her; the page's own rejoin (its socket dropped) is refused now
    r = await paid.t.api.post(f"/api/v1/registrations/{reg['id']}/refunds", json={})
    assert r.status_code == 200, r.text
    assert ada.sock is not None
    await ada.sock.close()
    ada.sock = await ada.connect(welcome["rejoin"])
    code, frames = await ada.closed()
    assert code == 4401 and frames and frames[-1].get("code") == "code_revoked", (code, frames)
