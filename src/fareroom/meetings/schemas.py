from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictBool

from fareroom.kit.fields import PLAIN, Strict, Whole, ident, text

RRULE = r"^(RRULE:)?[A-Z]+=[A-Za-z0-9,:+-]+(;[A-Z]+=[A-Za-z0-9,:+-]+)*$"
Kind = Literal["user", "group", "contact"]
# A meeting password: what people type (any characters but control ones), kept hashed.
Password = Annotated[str, Field(min_length=1, max_length=100, pattern=PLAIN)]


class Invitee(BaseModel):
    model_config = Strict
    kind: Kind
    id: str = ident()


class Member(BaseModel):
    model_config = Strict
    kind: Literal["user", "contact"]
    id: str = ident()


class ScheduleIn(BaseModel):
    model_config = Strict
    starts_at: AwareDatetime = Field(description="The first start, with its UTC offset")
    duration_minutes: Whole = Field(ge=1, le=1440)
    time_zone: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$",
                           description="An IANA time zone, e.g. Europe/Berlin")  # fmt: skip
    rrule: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=RRULE,
        description="A recurrence (RFC 5545), e.g. FREQ=WEEKLY;BYDAY=MO",
    )


class RoomCreate(BaseModel):
    model_config = Strict
    host_id: str = ident()
    kind: Literal["scheduled", "persistent"] = "persistent"
    topic: str = text(200)
    notes: str = text(5000, "", blank=True)
    start_type: Literal["video", "screen"] = "video"
    join_before_host: StrictBool = False
    password: Password | None = None
    allow_unmute: StrictBool = True
    recording: Literal["ask", "everyone", "no_one"] = "ask"
    schedule: ScheduleIn | None = None
    invitees: list[Invitee] = Field(default_factory=list, max_length=500)


class RoomUpdate(BaseModel):
    model_config = Strict
    host_id: str | None = ident(None)
    topic: str | None = text(200, None)
    notes: str | None = text(5000, None, blank=True)
    start_type: Literal["video", "screen"] | None = None
    join_before_host: StrictBool | None = None
    password: Password | None = Field(default=None, description='A new password; "" removes it')
    remove_password: StrictBool = False
    allow_unmute: StrictBool | None = None
    recording: Literal["ask", "everyone", "no_one"] | None = None
    schedule: ScheduleIn | None = None
    remove_schedule: StrictBool = False
    invitees: list[Invitee] | None = Field(default=None, max_length=500)


class ScheduleOut(BaseModel):
    starts_at: datetime
    duration_minutes: int
    time_zone: str
    rrule: str | None
    next_starts: list[datetime]


class RoomOut(BaseModel):
    id: str
    code: str
    url: str
    host_id: str
    host_name: str
    kind: str
    topic: str
    notes: str
    start_type: str
    join_before_host: bool
    has_password: bool
    allow_unmute: bool
    recording: str
    status: str
    locked: bool
    encrypted: bool
    schedule: ScheduleOut | None
    invitees: list[Invitee]
    created_at: datetime


class GroupIn(BaseModel):
    model_config = Strict
    name: str = text(200)
    members: list[Member] = Field(default_factory=list, max_length=1000)


class GroupUpdate(BaseModel):
    model_config = Strict
    name: str | None = text(200, None)
    members: list[Member] | None = Field(default=None, max_length=1000)


class GroupOut(BaseModel):
    id: str
    name: str
    members: list[Member]
    created_at: datetime


class DialInIn(BaseModel):
    model_config = Strict
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")
    number: str = Field(min_length=3, max_length=40, pattern=r"^\+?[0-9][0-9 ()./-]*[0-9]$")
    pin_format: str = text(120, "", blank=True)


class DialInOut(BaseModel):
    country: str
    number: str
    pin_format: str


class MeetingSettingsIn(BaseModel):
    model_config = Strict
    company_name: str | None = text(200, None, blank=True)
    dial_ins: list[DialInIn] | None = Field(default=None, max_length=50)


class MeetingSettingsOut(BaseModel):
    company_name: str
    dial_ins: list[DialInOut]


class PreferencesIn(BaseModel):
    model_config = Strict
    user_id: str = ident()
    encrypt_meetings: StrictBool


class PreferencesOut(BaseModel):
    user_id: str
    encrypt_meetings: bool


class InvitationsIn(BaseModel):
    model_config = Strict
    password: Password | None = Field(default=None, description="Put in the mails, if given")


class AuditPerson(BaseModel):
    id: str | None
    name: str | None
    identity: str | None


class AuditOut(BaseModel):
    id: str
    at: datetime
    action: str
    actor: AuditPerson | None
    subject: AuditPerson | None
    detail: str


class BanOut(BaseModel):
    id: str
    name: str
    identity: str
    created_at: datetime


class JoinIn(BaseModel):
    model_config = Strict
    name: str | None = text(100, None)
    password: Password | None = None
    invite: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9_.]+$")
    code: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9 -]*$",
                             description="A paid meeting's: a registrant's meeting "
                                         "code")  # fmt: skip


class JoinOut(BaseModel):
    ticket: str
    expires_in: int
