"""The business's meeting rooms for owners, admins and hosts: the list, a form to create or
change a room (topic, notes, host, schedule typed in the room's time zone with its
recurrence, or persistent; start type, join before host, password, who is invited, the
meeting's rules), invitations sent by mail, the room's audit trail and its bans.

Owners and admins see and change every room; a host (an agent) their own, hosted by
themselves: the service decides (``MeetingsService.may_change``). A password is never sent
back to the page, not even with an error: the form asks for it again.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.accounts.service import HOSTING_ROLES, Caller
from fareroom.bootstrap import Services
from fareroom.http import PathId, context
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.fields import MAYBE_ID
from fareroom.kit.ids import new_id
from fareroom.kit.money import parse_whole
from fareroom.meetings.recurrence import DAYS, Recurrence, recurrence_of, rule_of
from fareroom.meetings.service import HOST_ROLES, RoomView, Schedule, display_code, zone_or_none
from fareroom.models.business import User
from fareroom.models.meeting import RecordingPolicy, RoomKind, StartType
from fareroom.web.pages import NOTICES, back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import templates

router = APIRouter(include_in_schema=False)
REFUSAL = "Meeting rooms are for owners, admins and hosts."
PAGE_SIZE = 50
# A short list to choose from; the business's own zones are added, and any IANA name typed.
ZONES = ("UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris",
         "Europe/Berlin", "Europe/Amsterdam", "Europe/Madrid", "Europe/Rome", "Europe/Zurich",
         "Europe/Vienna", "Europe/Warsaw", "Europe/Stockholm", "Europe/Athens",
         "Europe/Istanbul", "America/New_York", "America/Chicago", "America/Denver",
         "America/Los_Angeles", "America/Toronto", "America/Sao_Paulo", "Asia/Dubai",
         "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
         "Pacific/Auckland", "Africa/Johannesburg")  # fmt: skip
COUNTRY_ZONES = {"DE": "Europe/Berlin", "AT": "Europe/Vienna", "CH": "Europe/Zurich",
                 "FR": "Europe/Paris", "GB": "Europe/London", "IE": "Europe/Dublin",
                 "NL": "Europe/Amsterdam", "ES": "Europe/Madrid", "IT": "Europe/Rome",
                 "PL": "Europe/Warsaw", "SE": "Europe/Stockholm", "US": "America/New_York",
                 "CA": "America/Toronto"}  # fmt: skip
DAY_NAMES = dict(zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
FLAGS = ("join_before_host", "allow_unmute", "remove_password")
TEXT = ("topic", "notes", "host_id", "kind", "start_day", "start_time", "duration",
        "time_zone", "repeat", "end", "count", "until", "rule", "start_type", "recording",
        "password")  # fmt: skip
LISTS = ("days", "users", "groups", "contacts")


def blank(caller: Caller, zone: str) -> dict[str, Any]:
    assert caller.user is not None
    return {"topic": "", "notes": "", "host_id": caller.user.id, "kind": "scheduled",
            "start_day": "", "start_time": "09:00", "duration": "60", "time_zone": zone,
            "repeat": "none", "end": "never", "count": "", "until": "", "rule": "",
            "start_type": "video", "recording": "ask", "password": "", "days": [],
            "users": [], "groups": [], "contacts": [], "join_before_host": False,
            "allow_unmute": True, "remove_password": False}  # fmt: skip


def form_of(view: RoomView) -> dict[str, Any]:
    """A room as its form shows it: its start as the wall-clock time in its zone."""
    r = view.room
    zone = r.time_zone or "UTC"
    tz = zone_or_none(zone) or ZoneInfo("UTC")
    local = r.starts_at.astimezone(tz) if r.starts_at else None
    rec = recurrence_of(r.rrule, tz)
    invited = {kind: [i for k, i in view.invitees if k == kind]
               for kind in ("user", "group", "contact")}  # fmt: skip
    return {"topic": r.topic, "notes": r.notes, "host_id": r.host_id, "kind": r.kind.value,
            "start_day": local.date().isoformat() if local else "",
            "start_time": f"{local:%H:%M}" if local else "09:00",
            "duration": str(r.duration_minutes or 60), "time_zone": zone,
            "repeat": rec.repeat, "days": list(rec.days),
            "end": "count" if rec.count else "until" if rec.until else "never",
            "count": str(rec.count or ""), "until": rec.until.isoformat() if rec.until else "",
            "rule": rec.rule, "start_type": r.start_type.value, "recording": r.recording.value,
            "password": "", "users": invited["user"], "groups": invited["group"],
            "contacts": invited["contact"], "join_before_host": r.join_before_host,
            "allow_unmute": r.allow_unmute, "remove_password": False}  # fmt: skip


async def _read_form(request: Request) -> tuple[str, dict[str, Any]]:
    data = await request.form()
    form: dict[str, Any] = {k: str(data.get(k, "")) for k in TEXT}
    form.update({f: data.get(f) == "on" for f in FLAGS})
    form.update({k: [str(v) for v in data.getlist(k)] for k in LISTS})
    return str(data.get("csrf", "")), form


def _day(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(f"{label}: write a day like 2027-01-04.", code="invalid_date",
                               field=label) from None  # fmt: skip


def _time(text: str) -> time:
    try:
        at = time.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("Start time: write a time like 09:30.", code="invalid_time",
                               field="Start time") from None  # fmt: skip
    if at.tzinfo is not None:
        raise ValidationFailed("Start time: write it as the room's time zone has it, like "
                               "09:30.", code="invalid_time")  # fmt: skip
    return at


def _recurrence(form: dict[str, Any]) -> Recurrence:
    repeat = form["repeat"]
    if repeat not in ("none", "daily", "weekly", "monthly", "custom"):
        raise ValidationFailed("Choose how the meeting repeats from the list.",
                               code="invalid_rrule")  # fmt: skip
    if any(d not in DAYS for d in form["days"]):
        raise ValidationFailed("Choose the days from the list.", code="invalid_rrule")
    count = until = None
    if repeat not in ("none", "custom") and form["end"] == "count":
        count = parse_whole(form["count"], label="Number of meetings", unit="meetings")
    elif repeat not in ("none", "custom") and form["end"] == "until":
        until = _day(form["until"], "Repeat until")
    return Recurrence(repeat=repeat, days=tuple(form["days"]), count=count, until=until,
                      rule=form["rule"])  # fmt: skip


def schedule_of(form: dict[str, Any], s: Services) -> Schedule:
    """The schedule the form describes: the start typed in the room's time zone."""
    day = _day(form["start_day"], "Start date")
    at = _time(form["start_time"])
    minutes = parse_whole(form["duration"], label="Duration (minutes)", unit="minutes")
    zone = form["time_zone"].strip()
    tz = zone_or_none(zone) if zone else None
    # the zone first: the recurrence's end day is the end of that day there
    checked = s.meetings.local_schedule(day, at, zone, duration_minutes=minutes, rrule=None)
    rule = rule_of(_recurrence(form), tz or ZoneInfo("UTC"))
    return Schedule(starts_at=checked.starts_at, duration_minutes=checked.duration_minutes,
                    time_zone=checked.time_zone, rrule=rule)  # fmt: skip


def _invitees(form: dict[str, Any]) -> list[tuple[str, str]]:
    return ([("user", u) for u in form["users"]] + [("group", g) for g in form["groups"]]
            + [("contact", c) for c in form["contacts"]])  # fmt: skip


def _choices(form: dict[str, Any]) -> tuple[RoomKind, StartType, RecordingPolicy]:
    try:
        kind = RoomKind(form["kind"])
        return kind, StartType(form["start_type"]), RecordingPolicy(form["recording"])
    except ValueError:
        raise ValidationFailed("Choose the room's kind, start type and recording from the "
                               "lists.", code="invalid_choice") from None  # fmt: skip


def _user(caller: Caller) -> User:
    assert caller.user is not None  # pages are signed in by a user
    return caller.user


def next_start(s: Services, view: RoomView) -> datetime | None:
    r = view.room
    if r.starts_at is None or r.time_zone is None:
        return None
    after = s.meetings.now() - timedelta(minutes=r.duration_minutes or 0)
    found = s.meetings.occurrences(r.starts_at, r.time_zone, r.rrule, count=1, after=after)
    return found[0].astimezone(ZoneInfo(r.time_zone)) if found else None


async def _page(request: Request, caller: Caller, s: Services, *, view: RoomView | None,
                form: dict[str, Any], problem: FareroomError | None = None,
                notice: str | None = None) -> Response:  # fmt: skip
    bid = caller.business_id
    users = await s.accounts.users(bid)
    manager = caller.role in HOST_ROLES
    base = context(request).settings.base_url.rstrip("/")
    zones = sorted(set(ZONES) | set(await s.meetings.time_zones(bid)))
    data: dict[str, Any] = {
        "caller": caller, "csrf": csrf_token(request), "view": view, "form": form,
        "users": users, "hosts": users if manager else [_user(caller)],
        "groups": await s.meetings.groups(bid),
        "contacts": await s.clients.list(bid, limit=500, starting_after=None),
        "zones": zones, "days": DAY_NAMES, "notice": notice,
        "error": problem.message if problem else None,
        "error_code": problem.code if problem else None,
        "link": f"{base}/m/{view.room.code}" if view else None,
        "code": display_code(view.room.code) if view else None,
        "next_start": next_start(s, view) if view else None,
        "audit": await s.meetings.audit(bid, view.room.id, limit=100, starting_after=None)
        if view else [],
        "bans": await s.meetings.bans(bid, view.room.id) if view else [],
        "batch": new_id("inv"),
    }  # fmt: skip
    return templates.TemplateResponse(request, "meetings/room.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


@router.get("/dashboard/meetings", response_class=HTMLResponse)
async def rooms_page(request: Request, notice: str | None = None,
                     after: str | None = None) -> Response:  # fmt: skip
    caller = await signed_in(request, HOSTING_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    after = after if after and after.replace("_", "").isalnum() and len(after) <= 40 else None
    async with context(request).unit_of_work(caller.business_id) as s:
        views = await s.meetings.rooms_for(caller.business_id, _user(caller),
                                           limit=PAGE_SIZE + 1, starting_after=after)  # fmt: skip
        rows = [(v, next_start(s, v)) for v in views[:PAGE_SIZE]]
        me = _user(caller)
    base = context(request).settings.base_url.rstrip("/")
    return templates.TemplateResponse(request, "meetings/rooms.html", {
        "caller": caller, "csrf": csrf_token(request), "rows": rows, "base": base,
        "older": views[PAGE_SIZE - 1].room.id if len(views) > PAGE_SIZE else None,
        "display_code": display_code, "notice": NOTICES.get(notice or ""),
        "e2ee": me.meetings_e2ee, "manager": caller.role in HOST_ROLES})  # fmt: skip


def _zone_default(caller: Caller) -> str:
    return COUNTRY_ZONES.get((caller.business.country or "").upper(), "UTC")


@router.get("/dashboard/meetings/new", response_class=HTMLResponse)
async def new_room_page(request: Request) -> Response:
    caller = await signed_in(request, HOSTING_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        form = blank(caller, _zone_default(caller))
        return await _page(request, caller, s, view=None, form=form)


@router.post("/dashboard/meetings/new")
async def create_room(request: Request) -> Response:
    csrf, form = await _read_form(request)
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            kind, start_type, recording = _choices(form)
            scheduled = kind is RoomKind.SCHEDULED
            view = await s.meetings.create_room(
                caller.business, host_id=form["host_id"], kind=kind, topic=form["topic"],
                notes=form["notes"], start_type=start_type,
                join_before_host=form["join_before_host"], password=form["password"] or None,
                allow_unmute=form["allow_unmute"], recording=recording,
                schedule=schedule_of(form, s) if scheduled else None,
                invitees=_invitees(form), by=_user(caller))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _page(request, caller, s, view=None, form=form, problem=exc)
    return back(f"/dashboard/meetings/{view.room.id}", notice="meeting_room_created")


@router.get("/dashboard/meetings/{room_id}", response_class=HTMLResponse)
async def room_page(request: Request, room_id: PathId, notice: str | None = None,
                    queued: str = "") -> Response:  # fmt: skip
    caller = await signed_in(request, HOSTING_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    said = NOTICES.get(notice or "")
    if notice == "invitations_queued" and queued.isascii() and queued.isdigit():
        # The words are ours; only a number comes from the URL.
        said = f"{int(queued[:6])} invitation{'' if queued == '1' else 's'} queued: " + (
            "the mail goes out shortly." if queued != "0" else "the room invites nobody yet."
        )
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.meetings.view_for(caller.business_id, _user(caller), room_id)
        return await _page(request, caller, s, view=view, form=form_of(view), notice=said)


@router.post("/dashboard/meetings/{room_id}")
async def update_room(request: Request, room_id: PathId) -> Response:
    csrf, form = await _read_form(request)
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.meetings.view_for(biz.id, _user(caller), room_id)
            personal = current.room.kind is RoomKind.PERSONAL
            _, start_type, recording = _choices(form | {"kind": current.room.kind.value})
            kind = current.room.kind if personal else _choices(form)[0]
            scheduled = kind is RoomKind.SCHEDULED
            await s.meetings.update_room(
                biz, room_id, by=_user(caller), invitees=_invitees(form),
                schedule=schedule_of(form, s) if scheduled else None,
                clear_schedule=not scheduled and current.room.starts_at is not None,
                password=form["password"] or None, clear_password=form["remove_password"],
                host_id=None if personal else form["host_id"], topic=form["topic"],
                notes=form["notes"], kind=kind, start_type=start_type, recording=recording,
                join_before_host=form["join_before_host"],
                allow_unmute=form["allow_unmute"])  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.meetings.view_for(biz.id, _user(caller), room_id)
            return await _page(request, caller, s, view=current, form=form, problem=exc)
    return back(f"/dashboard/meetings/{room_id}", notice="meeting_room_saved")


@router.post("/dashboard/meetings/{room_id}/invitations")
async def send_invitations(request: Request, room_id: PathId, csrf: str = Form(""),
                           password: str = Form(""),
                           batch: str = Form("", max_length=40, pattern=MAYBE_ID)
                           ) -> Response:  # fmt: skip
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            queued = await s.meetings.send_invitations(
                biz, room_id, base_url=context(request).settings.base_url,
                password=password or None, batch=batch or None, by=_user(caller))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.meetings.view_for(biz.id, _user(caller), room_id)
            return await _page(request, caller, s, view=current, form=form_of(current),
                               problem=exc)  # fmt: skip
    return back(f"/dashboard/meetings/{room_id}", notice="invitations_queued", queued=str(queued))


@router.post("/dashboard/meetings/{room_id}/bans/{ban_id}/lift")
async def lift_ban(request: Request, room_id: PathId, ban_id: PathId,
                   csrf: str = Form("")) -> Response:  # fmt: skip
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    async with context(request).unit_of_work(caller.business_id) as s:
        await s.meetings.view_for(caller.business_id, _user(caller), room_id)
        await s.meetings.lift_ban(caller.business_id, room_id, ban_id)
    return back(f"/dashboard/meetings/{room_id}", notice="ban_lifted")


@router.post("/dashboard/meetings/{room_id}/delete")
async def delete_room(request: Request, room_id: PathId, csrf: str = Form("")) -> Response:
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            await s.meetings.delete_room(biz.id, room_id, by=_user(caller))
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.meetings.view_for(biz.id, _user(caller), room_id)
            return await _page(request, caller, s, view=current, form=form_of(current),
                               problem=exc)  # fmt: skip
    return back("/dashboard/meetings", notice="meeting_room_deleted")
