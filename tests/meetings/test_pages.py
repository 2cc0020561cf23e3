"""The meeting pages of the dashboard through HTTP as a browser sends them (form posts with
the CSRF token): rooms, invitations, the audit trail and bans, groups, settings and a host's
"encrypt my meetings"."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fareroom.bootstrap import Context
from fareroom.kit.ids import new_id
from fareroom.mail.outbox import Outbox
from fareroom.models.meeting import MeetingAudit, MeetingBan
from tests.conftest import Tenant
from tests.support.pages import sign_in

PASSWORD = "agent password 1"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _alert(html: str) -> str:
    match = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    return html_lib.unescape(match.group(1)) if match else ""


async def _user(ctx: Context, tenant: Tenant, name: str, role: str = "agent") -> Any:
    async with ctx.unit_of_work() as s:
        return await s.accounts.add_user(tenant.id, email=f"{name.lower()}-{tenant.id}@ex.com",
                                         password=PASSWORD, role=role, name=name)  # fmt: skip


async def _signed_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    r = await sign_in(http, email, password)
    assert r.status_code == 303, r.text
    return _csrf((await http.get("/dashboard/meetings/new")).text)


def _form(csrf: str, host_id: str, **fields: Any) -> dict[str, Any]:
    return {"csrf": csrf, "topic": "Quarterly review", "notes": "Bring the numbers",
            "host_id": host_id, "kind": "scheduled", "start_day": "2027-01-04",
            "start_time": "09:00", "duration": "45", "time_zone": "Europe/Berlin",
            "repeat": "none", "end": "never", "start_type": "video", "recording": "ask",
            "allow_unmute": "on", **fields}  # fmt: skip


async def _rooms(tenant: Tenant) -> list[dict[str, Any]]:
    return list((await tenant.api.get("/api/v1/meeting-rooms")).json()["data"])


async def test_an_owner_schedules_a_weekly_room_edits_it_and_sends_invitations(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    agent = await _user(ctx, tenant, "Sam")
    colleague = await _user(ctx, tenant, "Carl")
    client = await tenant.client("Chloe", number=None)
    group = (await tenant.api.post("/api/v1/meeting-groups", json={
        "name": "Board", "members": [{"kind": "user", "id": colleague.id}]})).json()  # fmt: skip
    csrf = await _signed_in(http, tenant.owner_email, tenant.password)
    r = await http.post("/dashboard/meetings/new", data=_form(
        csrf, agent.id, repeat="weekly", days=["MO", "WE"], end="until", until="2027-02-28",
        password="tulip 42", groups=[group["id"]], contacts=[client["id"]]))  # fmt: skip
    assert r.status_code == 303, _alert(r.text)
    [room] = await _rooms(tenant)
    assert r.headers["location"].startswith(f"/dashboard/meetings/{room['id']}")
    schedule = room["schedule"]
    assert schedule["starts_at"] == "2027-01-04T08:00:00Z"  # 09:00 in Berlin in winter
    # the end of 28 February in Berlin, in UTC, as RFC 5545 wants beside a zoned start
    assert schedule["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270228T225959Z"
    assert schedule["next_starts"][:3] == ["2027-01-04T08:00:00Z", "2027-01-06T08:00:00Z",
                                           "2027-01-11T08:00:00Z"]  # fmt: skip
    assert (room["host_id"], room["has_password"]) == (agent.id, True)
    assert sorted((i["kind"], i["id"]) for i in room["invitees"]) == [
        ("contact", client["id"]), ("group", group["id"])]  # fmt: skip

    page = await http.get(f"/dashboard/meetings/{room['id']}")
    assert page.status_code == 200 and "tulip 42" not in page.text  # never shown back
    for shown in ('value="2027-01-04"', 'value="09:00"', 'value="2027-02-28"',
                  'value="WE" checked', "Monday 2027-01-04 09:00 (Europe/Berlin)"):  # fmt: skip
        assert shown in page.text, shown
    # saved as persistent, without the password and with a user instead of the group
    r = await http.post(f"/dashboard/meetings/{room['id']}", data=_form(
        _csrf(page.text), agent.id, kind="persistent", remove_password="on",
        users=[colleague.id], contacts=[client["id"]]))  # fmt: skip
    assert r.status_code == 303, _alert(r.text)
    [after] = await _rooms(tenant)
    assert (after["kind"], after["schedule"], after["has_password"]) == ("persistent", None, False)
    assert after["code"] == room["code"]

    page = await http.get(f"/dashboard/meetings/{room['id']}")
    batch = re.search(r'name="batch" value="([a-z0-9_]+)"', page.text)
    assert batch
    form = {"csrf": _csrf(page.text), "batch": batch.group(1)}
    r = await http.post(f"/dashboard/meetings/{room['id']}/invitations", data=form)
    assert r.status_code == 303 and "queued=2" in r.headers["location"]
    again = await http.post(f"/dashboard/meetings/{room['id']}/invitations", data=form)
    assert again.status_code == 303  # the same form sent twice queues each mail once
    async with ctx.unit_of_work() as s:
        mails = await Outbox(s.session, ctx.clock).for_reference(room["id"])
    assert sorted(m.to for m in mails) == sorted([colleague.email, "a@example.com"])
    shown = await http.get(r.headers["location"])
    assert "2 invitations queued" in shown.text
    listing = await http.get("/dashboard/meetings")
    assert "Quarterly review" in listing.text and "Sam" in listing.text
    assert room["code"] in listing.text


async def test_bad_room_input_gets_the_form_back_with_a_sentence_and_changes_nothing(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _signed_in(http, tenant.owner_email, tenant.password)
    for fields, words in [
        ({"time_zone": "Mars/Olympus"}, "Unknown time zone 'Mars/Olympus'"),
        ({"start_day": "2027-02-30"}, "Start date: write a day like 2027-01-04."),
        ({"start_day": "soon"}, "Start date: write a day like 2027-01-04."),
        ({"start_time": "25:00"}, "Start time: write a time like 09:30."),
        ({"duration": "0"}, "A meeting lasts from 1 minute to 24 hours."),
        ({"duration": "1,000"}, "Duration (minutes): Write a whole number of minutes"),
        ({"duration": "\u0661"}, "Duration (minutes): Write a whole number of minutes"),
        ({"password": "pass\x01word"}, "The password is 1 to 100 characters, without control"),
        ({"topic": "  "}, "The topic needs some text."),
        ({"notes": "a\x00b"}, "The notes may not contain control characters."),
        ({"start_day": "2027-03-28", "start_time": "02:30"}, "There is no 02:30 on 2027-03-28"),
        ({"repeat": "weekly", "end": "count", "count": "ten"}, "Number of meetings: Write"),
        ({"repeat": "custom", "rule": "FREQ=SOMETIMES"}, "The recurrence is not a valid RRULE"),
        ({"kind": "personal_or_so"}, "Choose the room's kind"),
        ({"users": ["usr_nobody"]}, "No user usr_nobody"),
    ]:  # fmt: skip
        r = await http.post("/dashboard/meetings/new", data=_form(csrf, tenant.owner_id, **fields))
        assert r.status_code in (404, 422), (fields, r.status_code)
        error = _alert(r.text)
        assert words in error, (fields, error)
        if fields.get("topic") is None:
            assert 'value="Quarterly review"' in r.text  # what was typed stays
        assert "pass\x01word" not in r.text and "password-again" in r.text
    assert await _rooms(tenant) == []


async def test_an_agent_hosts_their_own_rooms_only(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    sam, kim = await _user(ctx, tenant, "Sam"), await _user(ctx, tenant, "Kim")
    theirs = (await tenant.api.post("/api/v1/meeting-rooms", json={
        "host_id": kim.id, "topic": "Kim's clinic"})).json()  # fmt: skip
    csrf = await _signed_in(http, sam.email)
    new = await http.get("/dashboard/meetings/new")
    hosts = new.text.split('name="host_id"')[1].split("</select>")[0]
    assert f'value="{sam.id}"' in hosts and f'value="{kim.id}"' not in hosts
    r = await http.post("/dashboard/meetings/new", data=_form(csrf, kim.id, topic="Sneaky"))
    assert r.status_code == 403 and "hosted by someone else" in _alert(r.text)
    r = await http.post("/dashboard/meetings/new", data=_form(csrf, sam.id, topic="Sam's"))
    assert r.status_code == 303, _alert(r.text)
    listing = await http.get("/dashboard/meetings")
    assert "Sam&#39;s" in listing.text and "Kim&#39;s clinic" not in listing.text
    assert (await http.get(f"/dashboard/meetings/{theirs['id']}")).status_code == 403
    for path in ("", "/invitations", "/delete"):
        r = await http.post(f"/dashboard/meetings/{theirs['id']}{path}",
                            data=_form(csrf, sam.id, topic="Taken"))  # fmt: skip
        assert r.status_code == 403, path
    assert (await http.get("/dashboard/meetings/groups")).status_code == 403
    assert (await http.get("/dashboard/meetings/settings")).status_code == 403
    rooms = {r["topic"]: r for r in await _rooms(tenant)}
    assert set(rooms) == {"Kim's clinic", "Sam's"} and rooms["Kim's clinic"]["host_id"] == kim.id


async def test_other_businesses_finance_users_and_forged_forms_are_refused(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, ctx: Context, app: Any
) -> None:
    room = (await tenant.api.post("/api/v1/meeting-rooms", json={
        "host_id": tenant.owner_id, "topic": "Mine"})).json()  # fmt: skip
    assert (await http.get("/dashboard/meetings")).headers["location"] == "/login"
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        csrf = await _signed_in(other, other_tenant.owner_email, other_tenant.password)
        assert (await other.get(f"/dashboard/meetings/{room['id']}")).status_code == 404
        form = _form(csrf, other_tenant.owner_id, topic="Taken")
        for path in ("", "/invitations", "/delete"):
            r = await other.post(f"/dashboard/meetings/{room['id']}{path}", data=form)
            assert r.status_code == 404, path
    finance = await _user(ctx, tenant, "Fin", role="finance")
    await sign_in(http, finance.email, PASSWORD)
    for path in ("/dashboard/meetings", "/dashboard/meetings/new",
                 f"/dashboard/meetings/{room['id']}", "/dashboard/meetings/groups"):  # fmt: skip
        assert (await http.get(path)).status_code == 403, path
    csrf = await _signed_in(http, tenant.owner_email, tenant.password)
    r = await http.post("/dashboard/meetings/new", data=_form("forged", tenant.owner_id))
    assert r.status_code == 403
    r = await http.post(f"/dashboard/meetings/{room['id']}", data=_form("", tenant.owner_id))
    assert r.status_code == 403
    r = await http.post("/dashboard/meetings/new", data=_form(csrf, tenant.owner_id),
                        headers={"Origin": "https://evil.example"})  # fmt: skip
    assert r.status_code == 403
    [still] = await _rooms(tenant)
    assert still["topic"] == "Mine"


async def test_the_room_page_lists_its_audit_newest_first_and_lifts_a_ban(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    room = (await tenant.api.post("/api/v1/meeting-rooms", json={
        "host_id": tenant.owner_id, "topic": "Open day"})).json()  # fmt: skip
    now = datetime.now(UTC)
    async with ctx.unit_of_work() as s:
        for n, (action, actor, subject) in enumerate(
            [("joined", "Hana", None), ("joined", "Mallory", None), ("removed", "Hana", "Mallory")]
        ):
            s.session.add(MeetingAudit(id=new_id("maud"), room_id=room["id"], action=action,
                                       business_id=tenant.id, actor_id="p1", actor_name=actor,
                                       subject_id="p2" if subject else None,
                                       subject_name=subject, detail="",
                                       created_at=now + timedelta(seconds=n)))  # fmt: skip
            await asyncio.sleep(0.002)  # ids are time-ordered by the millisecond
        s.session.add(MeetingBan(id=new_id("mban"), room_id=room["id"], identity="guest:dev1",
                                 device="dev1", name="Mallory", by_participant_id="p1",
                                 created_at=now))  # fmt: skip
    await _signed_in(http, tenant.owner_email, tenant.password)
    page = await http.get(f"/dashboard/meetings/{room['id']}")
    audit = page.text.split('id="audit"')[1].split("</table>")[0]
    actions = re.findall(r'data-label="Action">([a-z ]+)', audit)
    assert actions == ["removed", "joined", "joined"]
    assert re.search(r'data-label="Who">Hana</td>\s*<td data-label="Whom">Mallory', audit)
    lift = re.search(r'action="(/dashboard/meetings/[^"]+/lift)"', page.text)
    assert lift and "Mallory" in page.text.split('id="bans"')[1]
    r = await http.post(lift.group(1), data={"csrf": _csrf(page.text)})
    assert r.status_code == 303
    bans = (await tenant.api.get(f"/api/v1/meeting-rooms/{room['id']}/bans")).json()["data"]
    assert bans == []
    after = await http.get(r.headers["location"])
    assert "The ban was lifted" in after.text and "Nobody is banned" in after.text


async def test_groups_are_created_renamed_changed_and_deleted(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    sam = await _user(ctx, tenant, "Sam")
    client = await tenant.client("Chloe", number=None)
    await _signed_in(http, tenant.owner_email, tenant.password)
    csrf = _csrf((await http.get("/dashboard/meetings/groups")).text)
    r = await http.post("/dashboard/meetings/groups", data={"csrf": csrf, "name": " "})
    assert r.status_code == 422 and "The group's name needs some text." in _alert(r.text)
    r = await http.post("/dashboard/meetings/groups", data={
        "csrf": csrf, "name": "Board", "members": [f"user:{sam.id}"]})  # fmt: skip
    assert r.status_code == 303
    [group] = (await tenant.api.get("/api/v1/meeting-groups")).json()["data"]
    page = await http.get(f"/dashboard/meetings/groups/{group['id']}")
    assert f'value="user:{sam.id}" checked' in page.text
    members = [f"contact:{client['id']}"]
    r = await http.post(f"/dashboard/meetings/groups/{group['id']}", data={
        "csrf": csrf, "name": "Advisory board", "members": members})  # fmt: skip
    assert r.status_code == 303
    [changed] = (await tenant.api.get("/api/v1/meeting-groups")).json()["data"]
    assert changed["name"] == "Advisory board"
    assert changed["members"] == [{"kind": "contact", "id": client["id"]}]
    r = await http.post(f"/dashboard/meetings/groups/{group['id']}/delete", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await tenant.api.get("/api/v1/meeting-groups")).json()["data"] == []


async def test_meeting_settings_keep_the_company_name_and_dial_in_rows(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    await _signed_in(http, tenant.owner_email, tenant.password)
    page = await http.get("/dashboard/meetings/settings")
    csrf = _csrf(page.text)
    form = {"csrf": csrf, "company_name": "Hana & Co", "country": ["de", "fr", ""],
            "number": ["+49 30 1234567", "+33 1 23 45 67 89", ""],
            "pin_format": ["PIN then #", "", ""], "action": "save"}  # fmt: skip
    bad = await http.post("/dashboard/meetings/settings",
                          data=form | {"number": ["call me", "+33 1", ""]})  # fmt: skip
    assert bad.status_code == 422 and "dial-in number 'call me'" in _alert(bad.text)
    assert 'value="call me"' in bad.text  # the rows typed stay
    more = await http.post("/dashboard/meetings/settings", data=form | {"action": "add"})
    assert more.status_code == 200 and more.text.count('name="country"') == 5
    r = await http.post("/dashboard/meetings/settings", data=form)
    assert r.status_code == 303
    saved = (await tenant.api.get("/api/v1/meeting-settings")).json()
    assert saved == {"company_name": "Hana & Co", "dial_ins": [
        {"country": "DE", "number": "+49 30 1234567", "pin_format": "PIN then #"},
        {"country": "FR", "number": "+33 1 23 45 67 89", "pin_format": ""}]}  # fmt: skip
    r = await http.post("/dashboard/meetings/settings", data=form | {"remove": ["0"]})
    assert r.status_code == 303
    [left] = (await tenant.api.get("/api/v1/meeting-settings")).json()["dial_ins"]
    assert left["country"] == "FR"


async def test_a_host_turns_encryption_of_their_meetings_on_and_off(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    sam = await _user(ctx, tenant, "Sam")
    await _signed_in(http, sam.email)
    page = await http.get("/meetings/personal")
    assert "the server never sees the key" in page.text and "carry no key" in page.text
    r = await http.post("/meetings/preferences", data={
        "csrf": _csrf(page.text), "encrypt": "on", "back_to": "personal"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/meetings/personal")
    page = await http.get(r.headers["location"])
    assert "end-to-end encrypted from now on" in page.text and 'data-encrypted="true"' in page.text
    r = await http.post("/meetings/preferences", data={"csrf": _csrf(page.text)})
    assert r.status_code == 303
    page = await http.get("/meetings/personal")
    assert 'data-encrypted="false"' in page.text
    r = await http.post("/meetings/preferences", data={"csrf": "forged", "encrypt": "on"})
    assert r.status_code == 403
    assert 'data-encrypted="false"' in (await http.get("/meetings/personal")).text
