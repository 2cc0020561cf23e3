"""Meeting rooms, groups, the business's meeting settings, start pages and joining
(docs/meetings.md). What happens inside a meeting is ``meetings.live``'s.

Rules kept here:

- A room's password is stored hashed (argon2) and is checked when someone joins; wrong
  passwords are counted per room and address (``JoinLimits``), and past the limit every
  try is refused, the right password included, until the window has passed. Joins
  themselves (tickets) are limited per room and address too: the start page is public.
- Joining answers a **ticket**: a 256-bit secret, single use, bound to the room, the
  joiner's identity and device, good for ``TICKET_SECONDS``; only its SHA-256 is kept. The
  meeting's socket takes it in its hello (``LiveMeetings.enter``).
- A room invites users, groups and contacts; a group is read when the invitation is sent,
  so editing a group changes who a room invites.
- The hosts of a room's meeting are its host and the business's owners and admins.
- Who changes a room (``by``, the pages' signed-in user): owners and admins any room of
  their business, for any host; anyone else only the rooms they host, hosted by themselves.
- Text is checked here as the API's schemas check it (no control characters; a topic and a
  group's name not blank), so a page's form meets the same rules as the API.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, vRecur
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.passwords import Passwords
from fareroom.accounts.service import sha256
from fareroom.kit.clock import Clock
from fareroom.kit.errors import NotFound, ValidationFailed
from fareroom.kit.fields import NON_BLANK, PLAIN
from fareroom.kit.ids import new_id
from fareroom.kit.ratelimit import Limit, RateLimiter, check_all
from fareroom.mail.outbox import Outbox
from fareroom.meetings.errors import (
    CodeEnded,
    CodeInUse,
    GroupNotFound,
    InvalidSchedule,
    MeetingFull,
    MeetingLocked,
    MeetingNotFound,
    NotYourRoom,
    PasswordRequired,
    Removed,
    RoomInUse,
    RoomNotFound,
    WrongPassword,
)
from fareroom.meetings.recurrence import floating
from fareroom.meetings.repository import MeetingsRepository
from fareroom.meetings.schemas import RRULE
from fareroom.models.business import Business, User
from fareroom.models.mail import MailKind
from fareroom.models.meeting import (
    DialIn,
    MeetingAudit,
    MeetingBan,
    MeetingGroup,
    MeetingParticipant,
    MeetingRoom,
    MeetingTicket,
    RecordingPolicy,
    RoomKind,
    StartType,
)

TICKET_SECONDS = 120  # a start page's ticket: the page opens its socket at once
REJOIN_SECONDS = 12 * 3600  # a welcome's ticket: the same page, after a dropped connection
HOST_ROLES = frozenset({"owner", "admin"})  # hosts of every room of their business
_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud and typed
CODE_LENGTH = 10
MAX_OCCURRENCES = 500  # a recurrence's occurrences shown and put in calendar files
# A dial-in number as people write it: digits, maybe a leading +, spaces and ( ) . / - between.
DIAL_NUMBER = r"^\+?[0-9][0-9 ()./-]*[0-9]$"


def check_text(value: str, label: str, most: int, *, blank: bool = False) -> str:
    """``value`` if it is at most ``most`` characters without control characters (and, unless
    ``blank``, not only white space); else a sentence naming the field by ``label``."""
    if re.fullmatch(PLAIN, value) is None:
        raise ValidationFailed(f"{label} may not contain control characters.",
                               code="invalid_text", field=label)  # fmt: skip
    if not blank and re.fullmatch(NON_BLANK, value) is None:
        raise ValidationFailed(f"{label} needs some text.", code="text_required", field=label)
    if len(value) > most:
        raise ValidationFailed(f"{label} may be at most {most} characters.",
                               code="text_too_long", field=label)  # fmt: skip
    return value


def check_password(password: str) -> str:
    """A meeting password: what people type, but no control characters (the API's rule)."""
    if not password or len(password) > 100 or re.fullmatch(PLAIN, password) is None:
        raise ValidationFailed("The password is 1 to 100 characters, without control "
                               "characters.", code="invalid_password")  # fmt: skip
    return password


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    """``abcdefghjk`` → ``abc-defg-hjk``, as people read it out."""
    return f"{code[:3]}-{code[3:7]}-{code[7:]}"


def normal_code(text: str) -> str:
    """What someone typed as a code, as stored: lower case, no dashes or spaces."""
    return "".join(ch for ch in text.lower() if ch not in "- ")


@dataclass(frozen=True)
class JoinLimits:
    """Wrong passwords allowed per room and address, and joins (tickets)."""

    limiter: RateLimiter
    wrong_password: Limit
    joins: Limit


@dataclass(frozen=True)
class Schedule:
    starts_at: datetime
    duration_minutes: int
    time_zone: str
    rrule: str | None = None


@dataclass(frozen=True)
class RoomView:
    room: MeetingRoom
    host: User
    invitees: list[tuple[str, str]]  # (kind, id)


@dataclass(frozen=True)
class GroupView:
    group: MeetingGroup
    members: list[tuple[str, str]]


@dataclass(frozen=True)
class StartPage:
    room: MeetingRoom
    host_name: str
    company: str
    dial_ins: list[DialIn]
    encrypted: bool
    next_start: datetime | None
    asks_code: bool = False  # a paid meeting: registrants join with their meeting code


@dataclass(frozen=True)
class Joiner:
    """Who asks to join, as the start page knows them."""

    device: str  # the device cookie's id
    user: User | None = None  # signed in
    invite: str | None = None  # a contact's invitation token, from their link
    name: str | None = None  # a guest's name
    address: str | None = None  # the connecting peer's, for the password limit


@dataclass(frozen=True)
class Invitation:
    subject: str
    text: str
    calendar: str


class Door(Protocol):
    """Who lets registrants of a paid meeting in by their meeting code (the registrations
    domain, which sits above this one: bootstrap hands it over as ``MeetingsService.door``)."""

    async def asks_code(self, room: MeetingRoom) -> bool: ...

    async def admit(self, room: MeetingRoom, code: str | None, address: str | None
                    ) -> tuple[str, str]:  # fmt: skip
        """(identity, name) of the registrant ``code`` admits now, or why it does not."""
        ...

    async def still_admits(self, room: MeetingRoom, identity: str) -> bool:
        """Whether a code's identity (``code:<code>``) may still come in (a rejoin)."""
        ...


class MeetingsService:
    def __init__(self, session: AsyncSession, clock: Clock, *, passwords: Passwords,
                 secret: bytes, limits: JoinLimits, max_participants: int) -> None:  # fmt: skip
        self.door: Door | None = None  # paid meetings' (set by bootstrap)
        self._repo = MeetingsRepository(session)
        self._session = session
        self._clock = clock
        self._passwords = passwords
        self._secret = secret
        self._limits = limits
        self.max_participants = max_participants

    def now(self) -> datetime:
        return self._clock.now()

    # ------------------------------------------------------------------ rooms

    async def _host(self, business_id: str, host_id: str) -> User:
        host = next(iter(await self._repo.users(business_id, [host_id])), None)
        if host is None:
            raise NotFound("The host must be a user of this business.", code="host_not_found")
        return host

    async def _check_invitees(self, business_id: str, invitees: list[tuple[str, str]]) -> None:
        by_kind: dict[str, set[str]] = {"user": set(), "group": set(), "contact": set()}
        for kind, ref in invitees:
            by_kind[kind].add(ref)
        found = {
            "user": {u.id for u in await self._repo.users(business_id, list(by_kind["user"]))},
            "group": {g.id for g in await self._repo.groups(business_id, list(by_kind["group"]))},
            "contact": {c.id for c in await self._repo.contacts(business_id,
                                                               list(by_kind["contact"]))},
        }  # fmt: skip
        for kind, refs in by_kind.items():
            missing = sorted(refs - found[kind])
            if missing:
                raise NotFound(f"No {kind} {missing[0]} in this business.",
                               code=f"{kind}_not_found")  # fmt: skip

    async def _unique_code(self) -> str:
        while True:  # 31^10 codes: a clash is rare, and looked for
            code = new_code()
            if not await self._repo.code_taken(code):
                return code

    @staticmethod
    def local_schedule(day: date, at: time, time_zone: str, *, duration_minutes: int,
                       rrule: str | None) -> Schedule:  # fmt: skip
        """A schedule from a start typed as the wall-clock time in ``time_zone``. A time the
        clocks skip there (the spring's gap) is refused rather than moved."""
        tz = zone_or_none(time_zone) if time_zone in available_timezones() else None
        if tz is None:
            raise InvalidSchedule(f"Unknown time zone {time_zone[:64]!r}; use a name like "
                                  "Europe/Berlin.", code="invalid_time_zone")  # fmt: skip
        local = datetime.combine(day, at, tzinfo=tz)
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            raise InvalidSchedule(f"There is no {at:%H:%M} on {day.isoformat()} in "
                                  f"{time_zone}: the clocks go forward then.",
                                  code="nonexistent_time")  # fmt: skip
        return Schedule(starts_at=local.astimezone(UTC), duration_minutes=duration_minutes,
                        time_zone=time_zone, rrule=rrule)  # fmt: skip

    def check_schedule(self, schedule: Schedule) -> None:
        if schedule.time_zone not in available_timezones():
            raise InvalidSchedule(f"Unknown time zone {schedule.time_zone[:64]!r}; use a name "
                                  "like Europe/Berlin.", code="invalid_time_zone")  # fmt: skip
        if not 1 <= schedule.duration_minutes <= 24 * 60:
            raise InvalidSchedule("A meeting lasts from 1 minute to 24 hours.")
        if schedule.rrule is not None:
            if re.fullmatch(RRULE, schedule.rrule) is None or len(schedule.rrule) > 500:
                raise InvalidSchedule("Write the recurrence as an RRULE, like "
                                      "FREQ=WEEKLY;BYDAY=MO.", code="invalid_rrule")  # fmt: skip
            self.occurrences(schedule.starts_at, schedule.time_zone, schedule.rrule, count=1)

    @staticmethod
    def occurrences(starts_at: datetime, time_zone: str, rule: str | None, *, count: int,
                    after: datetime | None = None) -> list[datetime]:  # fmt: skip
        """The room's starts (UTC), at most ``count``, from ``after``. A recurrence keeps the
        wall-clock time in the room's time zone (a weekly 9:00 in Berlin stays 9:00 across
        summer time)."""
        tz = ZoneInfo(time_zone)
        local = starts_at.astimezone(tz)
        if rule is None:
            return [starts_at] if after is None or starts_at >= after else []
        text = rule.removeprefix("RRULE:")
        try:
            text = floating(text, tz)
            recurrence = rrulestr(text, dtstart=local.replace(tzinfo=None), forceset=False)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidSchedule(f"The recurrence is not a valid RRULE: {exc}.",
                                  code="invalid_rrule") from None  # fmt: skip
        found: list[datetime] = []
        start = after.astimezone(tz).replace(tzinfo=None) if after else None
        for n, when in enumerate(recurrence):
            if n >= MAX_OCCURRENCES * 4 or len(found) >= count:
                break
            at = when.replace(tzinfo=tz).astimezone(UTC)
            if start is None or when >= start:
                found.append(at)
        return found

    async def create_room(self, business: Business, *, host_id: str, kind: RoomKind, topic: str,
                          notes: str = "", start_type: StartType = StartType.VIDEO,
                          join_before_host: bool = False, password: str | None = None,
                          allow_unmute: bool = True,
                          recording: RecordingPolicy = RecordingPolicy.ASK,
                          schedule: Schedule | None = None,
                          invitees: list[tuple[str, str]] | None = None,
                          room_id: str | None = None, by: User | None = None
                          ) -> RoomView:  # fmt: skip
        self._may_host(by, host_id)
        check_text(topic, "The topic", 200)
        check_text(notes, "The notes", 5000, blank=True)
        if password is not None:
            check_password(password)
        host = await self._host(business.id, host_id)
        invitees = sorted(set(invitees or []))
        await self._check_invitees(business.id, invitees)
        if kind is RoomKind.SCHEDULED and schedule is None:
            raise InvalidSchedule("A scheduled room needs its schedule.",
                                  code="schedule_required")  # fmt: skip
        if schedule is not None:
            self.check_schedule(schedule)
        room = MeetingRoom(
            id=room_id or new_id("mtg"), business_id=business.id, host_id=host.id,
            code=await self._unique_code(), kind=kind, topic=topic, notes=notes,
            start_type=start_type, join_before_host=join_before_host,
            password_hash=self._passwords.hash(password) if password else None,
            allow_unmute=allow_unmute, recording=recording,
            starts_at=schedule.starts_at if schedule else None,
            duration_minutes=schedule.duration_minutes if schedule else None,
            time_zone=schedule.time_zone if schedule else None,
            rrule=schedule.rrule if schedule else None, created_at=self._clock.now())  # fmt: skip
        await self._repo.add(room)
        await self._repo.set_invitees(room.id, invitees)
        return RoomView(room, host, invitees)

    async def update_room(self, business: Business, room_id: str, *,
                          invitees: list[tuple[str, str]] | None = None,
                          schedule: Schedule | None = None, clear_schedule: bool = False,
                          password: str | None = None, clear_password: bool = False,
                          by: User | None = None, **fields: object) -> RoomView:  # fmt: skip
        room = await self._room(business.id, room_id, lock=True)
        self.check_may_change(by, room)
        if fields.get("host_id") is not None:
            self._may_host(by, str(fields["host_id"]))
        if fields.get("topic") is not None:
            check_text(str(fields["topic"]), "The topic", 200)
        if fields.get("notes") is not None:
            check_text(str(fields["notes"]), "The notes", 5000, blank=True)
        if password:
            check_password(password)
        for name, value in fields.items():
            if value is not None:
                setattr(room, name, value)
        if "host_id" in fields and fields["host_id"] is not None:
            await self._host(business.id, str(fields["host_id"]))
        if clear_password:
            room.password_hash = None
        elif password:
            room.password_hash = self._passwords.hash(password)
        if clear_schedule:
            if room.kind is RoomKind.SCHEDULED:
                raise InvalidSchedule("A scheduled room keeps its schedule.",
                                      code="schedule_required")  # fmt: skip
            room.starts_at = room.duration_minutes = room.time_zone = room.rrule = None
        elif schedule is not None:
            self.check_schedule(schedule)
            room.starts_at, room.duration_minutes = schedule.starts_at, schedule.duration_minutes
            room.time_zone, room.rrule = schedule.time_zone, schedule.rrule
        if invitees is not None:
            invitees = sorted(set(invitees))
            await self._check_invitees(business.id, invitees)
            await self._repo.set_invitees(room.id, invitees)
        await self._session.flush()
        return await self.view(business.id, room.id)

    @staticmethod
    def may_change(user: User, room: MeetingRoom) -> bool:
        """Owners and admins change every room of their business; others their own."""
        return user.business_id == room.business_id and (
            user.role in HOST_ROLES or user.id == room.host_id
        )

    def check_may_change(self, by: User | None, room: MeetingRoom) -> None:
        if by is not None and not self.may_change(by, room):
            raise NotYourRoom()

    @staticmethod
    def _may_host(by: User | None, host_id: str) -> None:
        if by is not None and by.role not in HOST_ROLES and host_id != by.id:
            raise NotYourRoom()

    async def view_for(self, business_id: str, user: User, room_id: str) -> RoomView:
        """A room as ``user`` may manage it: another business's is not found, another
        host's refused unless ``user`` is an owner or admin."""
        view = await self.view(business_id, room_id)
        self.check_may_change(user, view.room)
        return view

    async def rooms_for(self, business_id: str, user: User, *, limit: int,
                        starting_after: str | None) -> list[RoomView]:  # fmt: skip
        """The rooms ``user`` manages, newest first: all of the business's for owners and
        admins, the ones they host for anyone else."""
        host_id = None if user.role in HOST_ROLES else user.id
        return await self.rooms(business_id, limit=limit, starting_after=starting_after,
                                host_id=host_id)  # fmt: skip

    async def delete_room(self, business_id: str, room_id: str, *, by: User | None = None) -> None:
        """A scheduled or persistent room goes with its invitations, bans, chat and audit
        trail; not while anyone is in its meeting, and never a personal room (every host
        has one)."""
        room = await self._room(business_id, room_id, lock=True)
        self.check_may_change(by, room)
        if room.kind is RoomKind.PERSONAL:
            raise ValidationFailed("A host's personal room stays; change its topic instead.",
                                   code="personal_room_stays")  # fmt: skip
        if await self._repo.present(room.id):
            raise RoomInUse()
        if self.door is not None and await self.door.asks_code(room):
            raise ValidationFailed("This room is a paid meeting: close its registration and "
                                   "cancel its meetings instead; its registrations stay.",
                                   code="paid_room_stays")  # fmt: skip
        await self._repo.delete_room(room.id)

    async def time_zones(self, business_id: str) -> list[str]:
        """The time zones the business's rooms use, for the form's suggestions."""
        return sorted(await self._repo.time_zones(business_id))

    async def _room(self, business_id: str, room_id: str, *, lock: bool = False) -> MeetingRoom:
        room = await self._repo.room(business_id, room_id, lock=lock)
        if room is None:
            raise RoomNotFound()
        return room

    async def room_by_id(self, room_id: str) -> MeetingRoom:
        room = await self._repo.room_by_id(room_id)
        if room is None:
            raise RoomNotFound()
        return room

    async def view(self, business_id: str, room_id: str) -> RoomView:
        room = await self._room(business_id, room_id)
        invitees = [(i.kind, i.ref_id) for i in await self._repo.invitees(room.id)]
        return RoomView(room, await self._host(business_id, room.host_id), invitees)

    async def rooms(self, business_id: str, *, limit: int, starting_after: str | None,
                    host_id: str | None = None) -> list[RoomView]:  # fmt: skip
        rooms = await self._repo.rooms(business_id, limit=limit, starting_after=starting_after,
                                       host_id=host_id)  # fmt: skip
        return [await self.view(business_id, r.id) for r in rooms]

    async def personal_room(self, business: Business, host_id: str) -> RoomView:
        """The host's own room, made the first time it is asked for."""
        host = await self._host(business.id, host_id)
        room = await self._repo.personal_room(host.id)
        if room is None:
            name = host.name or host.email.partition("@")[0]
            return await self.create_room(business, host_id=host.id, kind=RoomKind.PERSONAL,
                                          topic=f"{name}'s meeting room")  # fmt: skip
        return await self.view(business.id, room.id)

    async def audit(self, business_id: str, room_id: str, *, limit: int,
                    starting_after: str | None) -> list[MeetingAudit]:  # fmt: skip
        room = await self._room(business_id, room_id)
        return list(await self._repo.audit(room.id, limit=limit, starting_after=starting_after))

    async def bans(self, business_id: str, room_id: str) -> list[MeetingBan]:
        return list(await self._repo.bans((await self._room(business_id, room_id)).id))

    async def lift_ban(self, business_id: str, room_id: str, ban_id: str) -> None:
        room = await self._room(business_id, room_id)
        if not await self._repo.lift_ban(room.id, ban_id):
            raise NotFound("No such ban in this room.", code="ban_not_found")

    # ------------------------------------------------------------------ groups

    async def create_group(self, business: Business, *, name: str,
                           members: list[tuple[str, str]],
                           group_id: str | None = None) -> GroupView:  # fmt: skip
        check_text(name, "The group's name", 200)
        members = sorted(set(members))
        await self._check_invitees(business.id, members)
        group = MeetingGroup(id=group_id or new_id("grp"), business_id=business.id, name=name,
                             created_at=self._clock.now())  # fmt: skip
        await self._repo.add(group)
        await self._repo.set_members(group.id, members)
        return GroupView(group, members)

    async def group(self, business_id: str, group_id: str) -> GroupView:
        group = await self._repo.group(business_id, group_id)
        if group is None:
            raise GroupNotFound()
        members = [(m.kind, m.ref_id) for m in await self._repo.members([group.id])]
        return GroupView(group, members)

    async def groups(self, business_id: str) -> list[GroupView]:
        return [await self.group(business_id, g.id) for g in await self._repo.groups(business_id)]

    async def update_group(self, business: Business, group_id: str, *, name: str | None,
                           members: list[tuple[str, str]] | None) -> GroupView:  # fmt: skip
        view = await self.group(business.id, group_id)
        if name is not None:
            view.group.name = check_text(name, "The group's name", 200)
        if members is not None:
            members = sorted(set(members))
            await self._check_invitees(business.id, members)
            await self._repo.set_members(group_id, members)
        await self._session.flush()
        return await self.group(business.id, group_id)

    async def delete_group(self, business_id: str, group_id: str) -> None:
        await self.group(business_id, group_id)
        await self._repo.delete_group(group_id)

    # ------------------------------------------------------------------ settings

    async def dial_ins(self, business_id: str) -> list[DialIn]:
        return list(await self._repo.dial_ins(business_id))

    async def set_meeting_settings(self, business: Business, *, company_name: str | None,
                                   dial_ins: list[tuple[str, str, str]] | None
                                   ) -> list[DialIn]:  # fmt: skip
        if company_name is not None:
            check_text(company_name, "The company name", 200, blank=True)
        for country, number, pin in dial_ins or []:
            self._check_dial_in(country, number, pin)
        if company_name is not None:
            business.company_name = company_name or None
        if dial_ins is not None:
            rows = [DialIn(id=new_id("dial"), business_id=business.id, position=n,
                           country=country.upper(), number=number, pin_format=pin)
                    for n, (country, number, pin) in enumerate(dial_ins)]  # fmt: skip
            await self._repo.set_dial_ins(business.id, rows)
        await self._session.flush()
        return await self.dial_ins(business.id)

    @staticmethod
    def _check_dial_in(country: str, number: str, pin: str) -> None:
        if re.fullmatch(r"[A-Za-z]{2}", country) is None:
            raise ValidationFailed(f"A dial-in number's country is its two-letter code, like DE "
                                   f"(not {country[:20]!r}).", code="invalid_country")  # fmt: skip
        if not 3 <= len(number) <= 40 or re.fullmatch(DIAL_NUMBER, number) is None:
            raise ValidationFailed(f"Write the dial-in number {number[:40]!r} with digits, a + "
                                   "first if you like, and spaces, ( ) . / - between them.",
                                   code="invalid_dial_in_number")  # fmt: skip
        check_text(pin, "The PIN format", 120, blank=True)

    async def set_e2ee(self, business_id: str, user_id: str, on: bool) -> User:
        user = next(iter(await self._repo.users(business_id, [user_id])), None)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        user.meetings_e2ee = on
        await self._session.flush()
        return user

    # ------------------------------------------------------------------ start page, joining

    async def _by_code(self, code: str) -> MeetingRoom:
        room = await self._repo.room_by_code(normal_code(code)[: CODE_LENGTH * 2])
        if room is None:
            raise MeetingNotFound()
        return room

    async def start_page(self, code: str, business: Business | None = None) -> StartPage:
        room = await self._by_code(code)
        host = await self._repo.user(room.host_id)
        assert host is not None
        if business is None:
            from_business = await self._session.get(Business, room.business_id)
            assert from_business is not None
            business = from_business
        now = self._clock.now()
        next_start = None
        if room.starts_at is not None and room.time_zone is not None:
            # the start in progress (if one is) or the next one
            found = self.occurrences(
                room.starts_at,
                room.time_zone,
                room.rrule,
                count=1,
                after=now - timedelta(minutes=room.duration_minutes or 0),
            )
            next_start = found[0] if found else None
        return StartPage(room=room, host_name=host.name or host.email, encrypted=host.meetings_e2ee,
                         company=business.company_name or business.name,
                         dial_ins=await self.dial_ins(room.business_id),
                         next_start=next_start,
                         asks_code=bool(self.door and await self.door.asks_code(room)))  # fmt: skip

    def invite_token(self, room: MeetingRoom, contact_id: str) -> str:
        """A contact's personal link's token: their id, signed for this room."""
        mac = hmac.new(self._secret, f"invite:{room.id}:{contact_id}".encode(), hashlib.sha256)
        return f"{contact_id}.{mac.hexdigest()[:32]}"

    def _contact_of(self, room: MeetingRoom, token: str) -> str | None:
        contact_id, _, _ = token.partition(".")
        expected = self.invite_token(room, contact_id)
        return contact_id if hmac.compare_digest(expected.encode(), token.encode()) else None

    async def is_host(self, room: MeetingRoom, user: User | None) -> bool:
        if user is None or user.business_id != room.business_id:
            return False
        return user.id == room.host_id or user.role in HOST_ROLES

    async def _identity(self, room: MeetingRoom, joiner: Joiner) -> tuple[str, str]:
        """(identity, name) of who joins."""
        user = joiner.user
        if user is not None and user.business_id == room.business_id:
            return f"user:{user.id}", user.name or user.email
        if joiner.invite:
            contact_id = self._contact_of(room, joiner.invite)
            if contact_id is None:
                raise ValidationFailed("This invitation link is not valid for this meeting.",
                                       code="invite_invalid")  # fmt: skip
            contact = next(iter(await self._repo.contacts(room.business_id, [contact_id])), None)
            if contact is not None:
                return f"contact:{contact.id}", contact.name
        name = " ".join((joiner.name or "").split())
        if not name:
            raise ValidationFailed("Say your name, so the others know who joins.",
                                   code="name_required")  # fmt: skip
        return f"guest:{joiner.device}", name[:100]

    async def _check_password(self, room: MeetingRoom, password: str | None,
                              address: str | None) -> None:  # fmt: skip
        if room.password_hash is None:
            return
        if not password:
            raise PasswordRequired()
        keys = [(f"meeting-password:{room.id}:{address or '-'}", self._limits.wrong_password)]
        limiter = self._limits.limiter
        what = "Too many wrong passwords for this meeting."
        await check_all(limiter, keys, what, count=False)
        if not self._passwords.verify(room.password_hash, password):
            await check_all(limiter, keys, what)
            raise WrongPassword()

    async def join(self, code: str, joiner: Joiner, *, password: str | None,
                   meeting_code: str | None = None) -> str:  # fmt: skip
        """A ticket for the room's meeting, after the checks of its start page; see the
        module's docstring. A paid meeting's registrant is who their ``meeting_code``
        says (identity ``code:<code>``)."""
        room = await self._by_code(code)
        await check_all(self._limits.limiter, [(f"meeting-join:{room.id}:{joiner.address or '-'}",
                                                self._limits.joins)],
                        "Too many tries to join this meeting.")  # fmt: skip
        host = await self.is_host(room, joiner.user)
        let_in = None
        if not host:
            await self._check_password(room, password, joiner.address)
            if self.door is not None and await self.door.asks_code(room):
                let_in = await self.door.admit(room, meeting_code, joiner.address)
        identity, name = let_in or await self._identity(room, joiner)
        await self.check_entry(room, identity, joiner.device, host=host)
        return await self.ticket(room, identity=identity, device=joiner.device, name=name,
                                 host=host, seconds=TICKET_SECONDS)  # fmt: skip

    async def check_entry(self, room: MeetingRoom, identity: str, device: str, *, host: bool,
                          participant_id: str | None = None,
                          present: Sequence[MeetingParticipant] | None = None
                          ) -> None:  # fmt: skip
        """The rules every entry meets again (a ticket is no excuse): the ban list, the lock
        and the size. A page coming back to its place is not new (the lock and the size
        counted it in already); nor is one that was let in and dropped out (its connection
        lost, or taken as gone for a silence), back with the ticket its welcome gave: a
        lock keeps newcomers out, not the people who were in. ``present``: who is in, when
        the caller has read it."""
        if await self._repo.banned(room.id, identity, device):
            raise Removed()
        coded = identity.startswith("code:")
        if coded and self.door is not None and not await self.door.still_admits(room, identity):
            raise CodeEnded()  # refunded or cancelled since: a rejoin too
        if present is None:
            present = await self._repo.present(room.id)
        if any(p.id == participant_id for p in present):
            return
        if coded and any(p.identity == identity and p.device != device for p in present):
            raise CodeInUse()
        if room.locked and not host and not await self._was_in(room.id, participant_id):
            raise MeetingLocked()
        if len(present) >= self.max_participants:
            raise MeetingFull(self.max_participants)

    async def _was_in(self, room_id: str, participant_id: str | None) -> bool:
        if participant_id is None:
            return False
        old = await self._repo.participant(room_id, participant_id)
        return old is not None and old.admitted and old.left_reason in ("offline", "left")

    async def ticket(self, room: MeetingRoom, *, identity: str, device: str, name: str, host: bool,
                     seconds: int, participant_id: str | None = None) -> str:  # fmt: skip
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._repo.forget_tickets(now - timedelta(seconds=REJOIN_SECONDS))
        await self._repo.add(MeetingTicket(
            token_hash=sha256(token), room_id=room.id, identity=identity, device=device,
            name=name, host=host, participant_id=participant_id,
            expires_at=now + timedelta(seconds=seconds)))  # fmt: skip
        return token

    # ------------------------------------------------------------------ invitations

    def invitation(self, room: MeetingRoom, page: StartPage, *, link: str,
                   password: str | None = None) -> Invitation:  # fmt: skip
        """The invitation's words and calendar file. An encrypted room's link carries no
        key: only the host's own browser has it (docs/meetings.md)."""
        lines = [f"{page.host_name} invites you to a meeting: {room.topic}", "",
                 f"Join: {link}", f"Meeting code: {display_code(room.code)}"]  # fmt: skip
        if room.password_hash is not None:
            lines.append(f"Password: {password}" if password else
                         "Password: your host will tell you.")  # fmt: skip
        if page.next_start is not None and room.time_zone:
            local = page.next_start.astimezone(ZoneInfo(room.time_zone))
            lines.append(f"When: {local:%A %d %B %Y, %H:%M} ({room.time_zone}), "
                         f"{room.duration_minutes} minutes")  # fmt: skip
            if room.rrule:
                lines.append(f"Repeats: {room.rrule.removeprefix('RRULE:')}")
        if page.encrypted:
            lines += ["", "This meeting is end-to-end encrypted: your host sends you the "
                      "link with its key."]  # fmt: skip
        if page.dial_ins:
            lines += ["", "Dial in:"] + [f"  {d.country} {d.number}"
                                         + (f" ({d.pin_format})" if d.pin_format else "")
                                         for d in page.dial_ins]  # fmt: skip
        if room.notes:
            lines += ["", room.notes]
        lines += ["", page.company]
        return Invitation(subject=f"Invitation: {room.topic}", text="\n".join(lines),
                          calendar=self.calendar(room, page, link=link))  # fmt: skip

    def calendar(self, room: MeetingRoom, page: StartPage, *, link: str,
                 starts: Sequence[datetime] | None = None, note: str = "") -> str:  # fmt: skip
        """The room's calendar file: its schedule (with its RRULE), or with ``starts`` one
        event for each of those meetings (a registrant's occurrences); ``note`` (a meeting
        code) goes first in each event's description."""
        cal = Calendar()
        cal.add("prodid", "-//Fareroom//Meetings//EN")
        cal.add("version", "2.0")
        cal.add("method", "PUBLISH")
        tz = ZoneInfo(room.time_zone) if room.time_zone else None
        each = list(starts) if starts is not None else [room.starts_at or self._clock.now()]
        for n, start in enumerate(each):
            event = Event()
            event.add("uid", f"{room.id}{f'-{start:%Y%m%dT%H%M%SZ}' if starts else ''}@fareroom")
            event.add("summary", room.topic)
            event.add("description", "\n".join(x for x in (note, link, room.notes) if x))
            event.add("url", link)
            event.add("location", link)
            event.add("dtstamp", self._clock.now())
            event.add("dtstart", start.astimezone(tz) if tz else start)
            event.add("duration", timedelta(minutes=room.duration_minutes or 60))
            if room.rrule and starts is None and n == 0:
                event.add("rrule", _recur(room.rrule))
            event.add("organizer", f"CN={page.host_name}")
            cal.add_component(event)
        return cal.to_ical().decode()

    async def send_invitations(self, business: Business, room_id: str, *, base_url: str,
                               password: str | None = None, batch: str | None = None,
                               by: User | None = None) -> int:  # fmt: skip
        """Queue an invitation mail (link, password if given, calendar file) to everyone the
        room invites: its users, its contacts (each with their own link), and its groups'
        members as the groups are now. Returns how many were queued. A ``batch`` (a form's
        id) queues each mail once however often it is sent."""
        view = await self.view(business.id, room_id)
        self.check_may_change(by, view.room)
        if password is not None:
            check_password(password)
        room = view.room
        page = await self.start_page(room.code, business)
        users: set[str] = set()
        contacts: set[str] = set()
        groups = [r for k, r in view.invitees if k == "group"]
        for kind, ref in view.invitees + [(m.kind, m.ref_id)
                                          for m in await self._repo.members(groups)]:  # fmt: skip
            (users if kind == "user" else contacts if kind == "contact" else set()).add(ref)
        users.discard(room.host_id)
        outbox = Outbox(self._session, self._clock)
        link = f"{base_url.rstrip('/')}/m/{room.code}"
        recipients: list[tuple[str, str]] = [
            (u.email, link) for u in await self._repo.users(business.id, sorted(users))
        ]
        for c in await self._repo.contacts(business.id, sorted(contacts)):
            recipients.append((c.email, f"{link}?invite={self.invite_token(room, c.id)}"))
        for email, personal in recipients:
            invitation = self.invitation(room, page, link=personal, password=password)
            await outbox.queue(business_id=business.id, to=email, subject=invitation.subject,
                               body=invitation.text, kind=MailKind.INVITATION,
                               reference=room.id, sender_name=page.company,
                               calendar=invitation.calendar,
                               unique_key=f"invitation:{sha256(f'{room.id}:{batch}:{email}')}"
                               if batch else None)  # fmt: skip
        return len(recipients)


def _recur(rule: str) -> vRecur | dict[str, list[str]]:
    """The recurrence as icalendar writes it: parsed (an ``UNTIL`` must be a time there), or
    as its parts' text when icalendar cannot read a rule dateutil took."""
    try:
        return vRecur.from_ical(rule.removeprefix("RRULE:"))
    except ValueError:
        return _rrule_dict(rule)


def _rrule_dict(rule: str) -> dict[str, list[str]]:
    """``FREQ=WEEKLY;BYDAY=MO,WE`` → icalendar's recurrence value."""
    out: dict[str, list[str]] = {}
    for part in rule.removeprefix("RRULE:").split(";"):
        name, _, value = part.partition("=")
        if name and value:
            out[name.upper()] = value.split(",")
    return out


def zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
