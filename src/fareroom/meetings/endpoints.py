"""The meetings API: rooms, personal rooms, groups, the business's meeting settings, a
user's preferences, invitations, the audit trail and bans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.http import Page, PathId, api_key, context, page_params, paginated, read, write
from fareroom.meetings.schemas import (
    AuditOut,
    AuditPerson,
    BanOut,
    DialInOut,
    GroupIn,
    GroupOut,
    GroupUpdate,
    InvitationsIn,
    Invitee,
    MeetingSettingsIn,
    MeetingSettingsOut,
    Member,
    PreferencesIn,
    PreferencesOut,
    RoomCreate,
    RoomOut,
    RoomUpdate,
    ScheduleIn,
    ScheduleOut,
)
from fareroom.meetings.service import GroupView, MeetingsService, RoomView, Schedule
from fareroom.models.meeting import MeetingAudit, RecordingPolicy, RoomKind, StartType
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["meetings"], responses=problems(401, 404, 422))


def _schedule(body: ScheduleIn | None) -> Schedule | None:
    if body is None:
        return None
    return Schedule(starts_at=body.starts_at, duration_minutes=body.duration_minutes,
                    time_zone=body.time_zone, rrule=body.rrule)  # fmt: skip


def render_room(view: RoomView, meetings: MeetingsService, base_url: str) -> RoomOut:
    r = view.room
    schedule = None
    if r.starts_at is not None and r.time_zone and r.duration_minutes:
        now = meetings.now()
        starts = meetings.occurrences(
            r.starts_at,
            r.time_zone,
            r.rrule,
            count=5,
            after=now - timedelta(minutes=r.duration_minutes),
        )
        schedule = ScheduleOut(starts_at=r.starts_at, duration_minutes=r.duration_minutes,
                               time_zone=r.time_zone, rrule=r.rrule,
                               next_starts=starts)  # fmt: skip
    return RoomOut(
        id=r.id, code=r.code, url=f"{base_url.rstrip('/')}/m/{r.code}", host_id=r.host_id,
        host_name=view.host.name or view.host.email, kind=r.kind.value, topic=r.topic,
        notes=r.notes, start_type=r.start_type.value, join_before_host=r.join_before_host,
        has_password=r.password_hash is not None, allow_unmute=r.allow_unmute,
        recording=r.recording.value, status=r.status.value, locked=r.locked,
        encrypted=view.host.meetings_e2ee, schedule=schedule,
        invitees=[Invitee(kind=k, id=i) for k, i in view.invitees],
        created_at=r.created_at)  # fmt: skip


def _base(request: Request) -> str:
    return context(request).settings.base_url


@router.post("/meeting-rooms", status_code=201, response_model=RoomOut)
async def create_room(body: RoomCreate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """A scheduled room (with its schedule) or a persistent one (always there)."""

    async def run(s: Services, caller: Caller, rid: str | None) -> RoomOut:
        view = await s.meetings.create_room(
            caller.business, host_id=body.host_id, kind=RoomKind(body.kind), topic=body.topic,
            notes=body.notes, start_type=StartType(body.start_type),
            join_before_host=body.join_before_host, password=body.password,
            allow_unmute=body.allow_unmute, recording=RecordingPolicy(body.recording),
            schedule=_schedule(body.schedule),
            invitees=[(i.kind, i.id) for i in body.invitees], room_id=rid)  # fmt: skip
        return render_room(view, s.meetings, _base(request))

    return await write(request, key, body, prefix="mtg", fn=run)


@router.get("/meeting-rooms", response_model=dict[str, Any])
async def list_rooms(request: Request, key: str = Depends(api_key),
                     page: Page = Depends(page_params),
                     host_id: str | None = Query(None, max_length=40, pattern=r"^[A-Za-z0-9_]+$")
                     ) -> dict[str, Any]:  # fmt: skip
    async def run(s: Services, caller: Caller) -> list[RoomOut]:
        views = await s.meetings.rooms(
            caller.business_id,
            limit=page.limit + 1,
            starting_after=page.starting_after,
            host_id=host_id,
        )
        return [render_room(v, s.meetings, _base(request)) for v in views]

    rooms = await read(request, key, run)
    return paginated(rooms, page, lambda r: r, lambda r: r.id)


@router.get("/meeting-rooms/{room_id}", response_model=RoomOut)
async def get_room(room_id: PathId, request: Request, key: str = Depends(api_key)) -> RoomOut:
    async def run(s: Services, caller: Caller) -> RoomOut:
        return render_room(await s.meetings.view(caller.business_id, room_id), s.meetings,
                           _base(request))  # fmt: skip

    return await read(request, key, run)


@router.patch("/meeting-rooms/{room_id}", response_model=RoomOut)
async def update_room(room_id: PathId, body: RoomUpdate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> RoomOut:
        fields = body.model_dump(include={"host_id", "topic", "notes", "join_before_host",
                                          "allow_unmute"})  # fmt: skip
        if body.start_type is not None:
            fields["start_type"] = StartType(body.start_type)
        if body.recording is not None:
            fields["recording"] = RecordingPolicy(body.recording)
        view = await s.meetings.update_room(
            caller.business, room_id,
            invitees=[(i.kind, i.id) for i in body.invitees] if body.invitees is not None
            else None, schedule=_schedule(body.schedule), clear_schedule=body.remove_schedule,
            password=body.password, clear_password=body.remove_password, **fields)  # fmt: skip
        return render_room(view, s.meetings, _base(request))

    return await write(request, key, body, prefix="mupd", fn=run, status=200)


@router.get("/users/{user_id}/personal-room", response_model=RoomOut)
async def personal_room(user_id: PathId, request: Request,
                        key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """The host's own room (made the first time it is asked for)."""

    async def run(s: Services, caller: Caller, _: str | None) -> RoomOut:
        view = await s.meetings.personal_room(caller.business, user_id)
        return render_room(view, s.meetings, _base(request))

    return await write(request, key, None, prefix="prm", fn=run, status=200)


@router.post("/meeting-rooms/{room_id}/invitations", response_model=dict[str, int])
async def send_invitations(room_id: PathId, body: InvitationsIn, request: Request,
                           key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Mail an invitation (link, password if given, start page, a calendar file) to everyone
    the room invites, its groups' members as they are now; each contact gets a link of
    their own."""

    async def run(s: Services, caller: Caller, _: str | None) -> dict[str, int]:
        sent = await s.meetings.send_invitations(
            caller.business, room_id, base_url=_base(request), password=body.password
        )
        return {"queued": sent}

    return await write(request, key, body, prefix="minv", fn=run, status=200)


def _person(id_: str | None, name: str | None, identity: str | None) -> AuditPerson | None:
    return AuditPerson(id=id_, name=name, identity=identity) if id_ else None


def audit_out(a: MeetingAudit) -> AuditOut:
    return AuditOut(id=a.id, at=a.created_at, action=a.action, detail=a.detail,
                    actor=_person(a.actor_id, a.actor_name, a.actor_identity),
                    subject=_person(a.subject_id, a.subject_name, a.subject_identity))  # fmt: skip


@router.get("/meeting-rooms/{room_id}/audit", response_model=dict[str, Any])
async def room_audit(room_id: PathId, request: Request, key: str = Depends(api_key),
                     page: Page = Depends(page_params)) -> dict[str, Any]:  # fmt: skip
    """What happened in the room, newest first: joins, leaves, lock, end, removals (who
    removed whom), mutes, recording requests and answers, share pauses, settings."""
    found = await read(request, key, lambda s, caller: s.meetings.audit(
        caller.business_id, room_id, limit=page.limit + 1,
        starting_after=page.starting_after))  # fmt: skip
    return paginated(found, page, audit_out, lambda a: a.id)


@router.get("/meeting-rooms/{room_id}/bans", response_model=dict[str, Any])
async def room_bans(room_id: PathId, request: Request,
                    key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    """Who was removed from the room and may not come back."""
    bans = await read(request, key, lambda s, caller: s.meetings.bans(caller.business_id, room_id))
    return {
        "data": [
            BanOut(id=b.id, name=b.name, identity=b.identity, created_at=b.created_at).model_dump(
                mode="json"
            )
            for b in bans
        ]
    }


@router.delete("/meeting-rooms/{room_id}/bans/{ban_id}", status_code=204)
async def lift_ban(room_id: PathId, ban_id: PathId, request: Request,
                   key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> dict[str, Any]:
        await s.meetings.lift_ban(caller.business_id, room_id, ban_id)
        return {}

    await write(request, key, None, prefix="mban", fn=run, status=204)
    return JSONResponse(None, 204)


# ------------------------------------------------------------------ groups


def render_group(view: GroupView) -> GroupOut:
    g = view.group
    return GroupOut(
        id=g.id,
        name=g.name,
        created_at=g.created_at,
        members=[Member(kind=k, id=i) for k, i in view.members],
    )


@router.post("/meeting-groups", status_code=201, response_model=GroupOut)
async def create_group(body: GroupIn, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Users and contacts a room may invite together; editing the group changes who its
    rooms invite."""

    async def run(s: Services, caller: Caller, rid: str | None) -> GroupOut:
        return render_group(await s.meetings.create_group(
            caller.business, name=body.name, members=[(m.kind, m.id) for m in body.members],
            group_id=rid))  # fmt: skip

    return await write(request, key, body, prefix="grp", fn=run)


@router.get("/meeting-groups", response_model=dict[str, Any])
async def list_groups(request: Request, key: str = Depends(api_key)) -> dict[str, Any]:
    groups = await read(request, key, lambda s, caller: s.meetings.groups(caller.business_id))
    return {"data": [render_group(g).model_dump(mode="json") for g in groups]}


@router.get("/meeting-groups/{group_id}", response_model=GroupOut)
async def get_group(group_id: PathId, request: Request, key: str = Depends(api_key)) -> GroupOut:
    return render_group(
        await read(request, key, lambda s, caller: s.meetings.group(caller.business_id, group_id))
    )


@router.patch("/meeting-groups/{group_id}", response_model=GroupOut)
async def update_group(group_id: PathId, body: GroupUpdate, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> GroupOut:
        members: list[tuple[str, str]] | None = None
        if body.members is not None:
            members = [(m.kind, m.id) for m in body.members]
        return render_group(
            await s.meetings.update_group(
                caller.business, group_id, name=body.name, members=members
            )
        )

    return await write(request, key, body, prefix="gupd", fn=run, status=200)


@router.delete("/meeting-groups/{group_id}", status_code=204)
async def delete_group(group_id: PathId, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> dict[str, Any]:
        await s.meetings.delete_group(caller.business_id, group_id)
        return {}

    await write(request, key, None, prefix="gdel", fn=run, status=204)
    return JSONResponse(None, 204)


# ------------------------------------------------------------------ settings


@router.get("/meeting-settings", response_model=MeetingSettingsOut)
async def get_settings(request: Request, key: str = Depends(api_key)) -> MeetingSettingsOut:
    async def run(s: Services, caller: Caller) -> MeetingSettingsOut:
        dial_ins = await s.meetings.dial_ins(caller.business_id)
        return _settings_out(caller, dial_ins)

    return await read(request, key, run)


def _settings_out(caller: Caller, dial_ins: list[Any]) -> MeetingSettingsOut:
    b = caller.business
    return MeetingSettingsOut(company_name=b.company_name or b.name, dial_ins=[
        DialInOut(country=d.country, number=d.number, pin_format=d.pin_format)
        for d in dial_ins])  # fmt: skip


@router.put("/meeting-settings", response_model=MeetingSettingsOut)
async def put_settings(body: MeetingSettingsIn, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """The company name and dial-in numbers the start pages show (the numbers are the
    business's own: Fareroom does not bridge phone audio)."""

    async def run(s: Services, caller: Caller, _: str | None) -> MeetingSettingsOut:
        dial_ins = await s.meetings.set_meeting_settings(
            caller.business, company_name=body.company_name,
            dial_ins=[(d.country, d.number, d.pin_format) for d in body.dial_ins]
            if body.dial_ins is not None else None)  # fmt: skip
        return _settings_out(caller, dial_ins)

    return await write(request, key, body, prefix="mset", fn=run, status=200)


@router.put("/meeting-preferences", response_model=PreferencesOut)
async def put_preferences(body: PreferencesIn, request: Request,
                          key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """A user's "encrypt my meetings": the rooms they host are end-to-end encrypted."""

    async def run(s: Services, caller: Caller, _: str | None) -> PreferencesOut:
        user = await s.meetings.set_e2ee(caller.business_id, body.user_id, body.encrypt_meetings)
        return PreferencesOut(user_id=user.id, encrypt_meetings=user.meetings_e2ee)

    return await write(request, key, body, prefix="mprf", fn=run, status=200)
