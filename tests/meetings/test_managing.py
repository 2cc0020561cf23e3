"""The service's rules behind the dashboard's meeting pages: who may change a room, deleting
one, rooms per host, recurrences ending on a day, and text checked as the API checks it."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from fareroom.kit.errors import ValidationFailed
from fareroom.mail.outbox import Outbox
from fareroom.meetings.errors import InvalidSchedule, NotYourRoom, RoomInUse, RoomNotFound
from fareroom.meetings.recurrence import Recurrence, recurrence_of, rule_of
from fareroom.meetings.service import Schedule
from fareroom.models.business import User
from fareroom.models.meeting import RoomKind
from tests.meetings.conftest import Meet

BERLIN = "Europe/Berlin"


async def _user(meet: Meet, user_id: str) -> User:
    async with meet.ctx.unit_of_work() as s:
        found = await s.session.get(User, user_id)
        assert found is not None
        return found


async def test_an_agent_changes_only_the_rooms_they_host_and_hosts_them_themself(
    meet: Meet,
) -> None:
    _, sam_id = await meet.user("Sam")
    _, kim_id = await meet.user("Kim")
    sam, biz = await _user(meet, sam_id), meet.t.business
    kims = await meet.room(kim_id)
    async with meet.ctx.unit_of_work() as s:
        with pytest.raises(NotYourRoom):
            await s.meetings.update_room(biz, kims["id"], topic="Mine now", by=sam)
        with pytest.raises(NotYourRoom):
            await s.meetings.create_room(biz, host_id=kim_id, kind=RoomKind.PERSISTENT,
                                         topic="For Kim", by=sam)  # fmt: skip
        with pytest.raises(NotYourRoom):
            await s.meetings.view_for(biz.id, sam, kims["id"])
        own = await s.meetings.create_room(biz, host_id=sam_id, kind=RoomKind.PERSISTENT,
                                           topic="Sam's", by=sam)  # fmt: skip
        with pytest.raises(NotYourRoom):  # nor hand their room to someone else
            await s.meetings.update_room(biz, own.room.id, host_id=kim_id, by=sam)
    owner = await _user(meet, meet.t.owner_id)
    async with meet.ctx.unit_of_work() as s:
        listed = await s.meetings.rooms_for(biz.id, sam, limit=10, starting_after=None)
        everything = await s.meetings.rooms_for(biz.id, owner, limit=10, starting_after=None)
    assert [v.room.topic for v in listed] == ["Sam's"]
    assert sorted(v.room.topic for v in everything) == ["Quarterly review", "Sam's"]


async def test_a_room_is_deleted_with_its_invitations_but_not_while_someone_is_in_it(
    meet: Meet,
) -> None:
    host, host_id = await meet.user("Hana", role="admin")
    _, colleague = await meet.user("Carl")
    room = await meet.room(host_id, invitees=[{"kind": "user", "id": colleague}])
    await host.join(room["code"])
    biz = meet.t.business
    async with meet.ctx.unit_of_work() as s:
        with pytest.raises(RoomInUse):
            await s.meetings.delete_room(biz.id, room["id"])
    await host.send(type="leave")
    await host.closed()
    async with meet.ctx.unit_of_work() as s:
        await s.meetings.delete_room(biz.id, room["id"])
    async with meet.ctx.unit_of_work() as s:
        with pytest.raises(RoomNotFound):
            await s.meetings.view(biz.id, room["id"])
        personal = await s.meetings.personal_room(biz, host_id)
    assert (await meet.guest().start_page(room["code"])).status_code == 404
    async with meet.ctx.unit_of_work() as s:
        with pytest.raises(ValidationFailed, match="personal room stays"):
            await s.meetings.delete_room(biz.id, personal.room.id)


async def test_a_recurrence_ending_on_a_day_ends_there_in_the_rooms_zone_and_in_its_calendar(
    meet: Meet,
) -> None:
    _, host_id = await meet.user("Hana")
    _, guest_id = await meet.user("Gus")
    rule = rule_of(Recurrence(repeat="weekly", days=("TU",), until=date(2027, 1, 19)),
                   ZoneInfo(BERLIN))  # fmt: skip
    assert rule == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270119T225959Z"
    assert recurrence_of(rule, ZoneInfo(BERLIN)) == Recurrence(repeat="weekly", days=("TU",),
                                                              until=date(2027, 1, 19))  # fmt: skip
    assert recurrence_of("FREQ=WEEKLY;INTERVAL=2", ZoneInfo(BERLIN)).repeat == "custom"
    async with meet.ctx.unit_of_work() as s:
        schedule = s.meetings.local_schedule(date(2027, 1, 5), time(23, 30), BERLIN,
                                             duration_minutes=30, rrule=rule)  # fmt: skip
        view = await s.meetings.create_room(
            meet.t.business, host_id=host_id, kind=RoomKind.SCHEDULED, topic="Late call",
            schedule=schedule, invitees=[("user", guest_id)])  # fmt: skip
        starts = s.meetings.occurrences(schedule.starts_at, BERLIN, rule, count=10)
        await s.meetings.send_invitations(meet.t.business, view.room.id, base_url="http://x")
    # 23:30 in Berlin on the 5th, 12th and 19th (22:30 UTC): the 19th's is before its end
    assert [f"{d:%m-%d %H:%M}" for d in starts] == ["01-05 22:30", "01-12 22:30", "01-19 22:30"]
    async with meet.ctx.unit_of_work() as s:
        [mail] = await Outbox(s.session, meet.clock).for_reference(view.room.id)
    [event] = Calendar.from_ical(mail.calendar).walk("VEVENT")
    assert event["rrule"]["UNTIL"][0].isoformat() == "2027-01-19T22:59:59+00:00"


async def test_the_service_checks_text_and_times_as_the_api_does(meet: Meet) -> None:
    _, host_id = await meet.user("Hana")
    biz = meet.t.business
    async with meet.ctx.unit_of_work() as s:
        for fields, code in [({"topic": " \t"}, "text_required"),
                             ({"topic": "x" * 201}, "text_too_long"),
                             ({"notes": "a\x07"}, "invalid_text"),
                             ({"password": "\x1b[31m"}, "invalid_password")]:  # fmt: skip
            with pytest.raises(ValidationFailed) as caught:
                await s.meetings.create_room(biz, host_id=host_id, kind=RoomKind.PERSISTENT,
                                             **{"topic": "Fine", **fields})  # fmt: skip
            assert caught.value.code == code, fields
        with pytest.raises(InvalidSchedule) as gap:  # the clocks skip 02:00-03:00 that night
            s.meetings.local_schedule(date(2027, 3, 28), time(2, 30), BERLIN,
                                      duration_minutes=30, rrule=None)  # fmt: skip
        assert gap.value.code == "nonexistent_time"
        with pytest.raises(ValidationFailed, match="two-letter code"):
            rows = [("Germany", "+49 30 1", "")]
            await s.meetings.set_meeting_settings(biz, company_name=None, dial_ins=rows)
        bad = Schedule(starts_at=s.meetings.now(), duration_minutes=30, time_zone=BERLIN,
                       rrule="FREQ=DAILY;X=\x00")  # fmt: skip
        with pytest.raises(InvalidSchedule):
            s.meetings.check_schedule(bad)
