"""Rooms, groups and invitations through the API; contacts' personal links."""

from __future__ import annotations

from icalendar import Calendar

from fareroom.mail.outbox import Outbox
from tests.meetings.conftest import Meet


async def _mails(meet: Meet, room_id: str) -> dict[str, object]:
    async with meet.ctx.unit_of_work() as s:
        return {m.to: m for m in await Outbox(s.session, meet.clock).for_reference(room_id)}


async def test_invitations_reach_users_contacts_and_groups_as_the_groups_are_now(
    meet: Meet,
) -> None:
    _, host_id = await meet.user("Hana")
    _, colleague = await meet.user("Carl")
    _, later = await meet.user("Lena")
    client = await meet.t.client("Chloe", number=None)
    r = await meet.t.api.post("/api/v1/meeting-groups", json={
        "name": "Board", "members": [{"kind": "user", "id": colleague}]})  # fmt: skip
    assert r.status_code == 201, r.text
    group = r.json()
    room = await meet.room(host_id, kind="scheduled", password="tulip 42", notes="Bring numbers",
                           schedule={"starts_at": "2027-01-04T09:00:00+01:00",
                                     "duration_minutes": 45, "time_zone": "Europe/Berlin",
                                     "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10"},
                           invitees=[{"kind": "group", "id": group["id"]},
                                     {"kind": "contact", "id": client["id"]}])  # fmt: skip
    assert room["schedule"]["next_starts"][0] == "2027-01-04T08:00:00Z"
    # summer time: the meeting stays at 9:00 in Berlin
    r = await meet.t.api.patch(f"/api/v1/meeting-groups/{group['id']}", json={
        "members": [{"kind": "user", "id": colleague}, {"kind": "user", "id": later}]})
    assert r.status_code == 200, r.text
    r = await meet.t.api.post(f"/api/v1/meeting-rooms/{room['id']}/invitations",
                              json={"password": "tulip 42"})  # fmt: skip
    assert r.status_code == 200 and r.json() == {"queued": 3}, r.text
    mails = await _mails(meet, room["id"])
    assert len(mails) == 3 and "a@example.com" in mails
    contact_mail = mails["a@example.com"]
    assert "?invite=" in contact_mail.body and "Password: tulip 42" in contact_mail.body
    cal = Calendar.from_ical(contact_mail.calendar)
    [event] = cal.walk("VEVENT")
    assert str(event["summary"]) == "Quarterly review"
    assert event["rrule"]["FREQ"] == ["WEEKLY"]
    assert event.decoded("dtstart").hour == 9
    link = next(w for w in contact_mail.body.split() if "?invite=" in w)
    invite = link.split("?invite=")[1]

    # the contact's own link makes them the contact in the meeting, without a name
    chloe = meet.guest("")
    r = await chloe.ticket(room["code"], password="tulip 42", invite=invite, name=None)
    assert r.status_code == 200, r.text
    chloe.sock = await chloe.connect(r.json()["ticket"])
    welcome = await chloe.sock.expect("welcome")
    assert welcome["you"]["identity_kind"] == "contact" and welcome["you"]["name"] == "Chloe"
    forged = invite.split(".")[0] + ".0000"
    r = await meet.guest("").ticket(room["code"], password="tulip 42", invite=forged, name=None)
    assert r.status_code == 422 and r.json()["code"] == "invite_invalid"


async def test_a_schedule_with_an_unknown_zone_or_a_bad_rule_is_refused(meet: Meet) -> None:
    _, host_id = await meet.user("Hana")
    for schedule, code in (
        ({"time_zone": "Mars/Olympus"}, "invalid_time_zone"),
        ({"rrule": "FREQ=SOMETIMES"}, "invalid_rrule"),
    ):
        body = {"starts_at": "2027-01-04T09:00:00+01:00", "duration_minutes": 30,
                "time_zone": "Europe/Berlin", **schedule}  # fmt: skip
        r = await meet.t.api.post("/api/v1/meeting-rooms", json={
            "host_id": host_id, "topic": "x", "kind": "scheduled", "schedule": body})
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    r = await meet.t.api.post("/api/v1/meeting-rooms", json={
        "host_id": host_id, "topic": "x", "kind": "scheduled"})
    assert r.status_code == 422 and r.json()["code"] == "schedule_required"


async def test_the_personal_room_is_made_once_and_the_start_page_shows_the_business(
    meet: Meet,
) -> None:
    host, host_id = await meet.user("Hana")
    first = await meet.t.api.get(f"/api/v1/users/{host_id}/personal-room")
    again = await meet.t.api.get(f"/api/v1/users/{host_id}/personal-room")
    assert first.status_code == 200 and first.json()["id"] == again.json()["id"]
    r = await meet.t.api.put("/api/v1/meeting-settings", json={
        "company_name": "Hana & Co", "dial_ins": [
            {"country": "de", "number": "+49 30 1234567", "pin_format": "code then #"}]})
    assert r.status_code == 200 and r.json()["dial_ins"][0]["country"] == "DE", r.text
    page = await meet.guest().start_page(first.json()["code"])
    assert page.status_code == 200
    for text in ("Hana &amp; Co", "+49 30 1234567", "code then #", "Hana", "Join meeting"):
        assert text in page.text
    assert "fareroom_device" in page.headers.get("set-cookie", "")
