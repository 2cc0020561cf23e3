"""Meeting rooms, groups, the business's dial-in numbers, and what happens in a meeting:
participants, join tickets, bans, chat and the audit trail (docs/meetings.md).

A participant row is one page's time in a meeting (or its lobby), from its hello until it
left; the meeting's roster is the rows not left. Bans outlive meetings: a participant a host
removed cannot come back to the room, in this meeting or a later one, until a host lifts it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fareroom.kit.db import Base, UTCDateTime, str_enum


class RoomKind(StrEnum):
    PERSONAL = "personal"  # every host's own, made on first use
    SCHEDULED = "scheduled"  # has a start (and maybe a recurrence)
    PERSISTENT = "persistent"  # always there, like a department's room


class StartType(StrEnum):
    VIDEO = "video"
    SCREEN = "screen"  # screen share first, video off


class RecordingPolicy(StrEnum):
    ASK = "ask"  # a participant asks, a host answers
    EVERYONE = "everyone"
    NO_ONE = "no_one"


class MeetingStatus(StrEnum):
    IDLE = "idle"  # nobody has started it (or everyone left)
    LIVE = "live"  # a host is in, or join-before-host let participants start it
    ENDED = "ended"  # a host ended it for all: nobody enters until a host starts it again


class Sharing(StrEnum):
    OFF = "off"
    ON = "on"
    PAUSED = "paused"


class MeetingRoom(Base):
    __tablename__ = "meeting_rooms"
    __table_args__ = (
        Index("ix_meeting_rooms_business", "business_id", "id"),
        Index("ix_meeting_rooms_personal", "host_id", "kind"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[RoomKind] = mapped_column(str_enum(RoomKind, 12))
    topic: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    start_type: Mapped[StartType] = mapped_column(str_enum(StartType, 8), default=StartType.VIDEO)
    join_before_host: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    allow_unmute: Mapped[bool] = mapped_column(Boolean, default=True)
    recording: Mapped[RecordingPolicy] = mapped_column(
        str_enum(RecordingPolicy, 8), default=RecordingPolicy.ASK
    )
    # A schedule (scheduled rooms): the first start, its length, the time zone its times are
    # meant in (an RRULE's occurrences keep the wall-clock time there) and the recurrence.
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    rrule: Mapped[str | None] = mapped_column(String(500))
    # The meeting now: its status, the lock, and who may speak after a host's "mute all".
    status: Mapped[MeetingStatus] = mapped_column(
        str_enum(MeetingStatus, 8), default=MeetingStatus.IDLE
    )
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingInvitee(Base):
    """Who a room invites: a user, a group or a contact (a client of the business)."""

    __tablename__ = "meeting_invitees"

    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | group | contact
    ref_id: Mapped[str] = mapped_column(String(40), primary_key=True)


class MeetingGroup(Base):
    __tablename__ = "meeting_groups"
    __table_args__ = (Index("ix_meeting_groups_business", "business_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingGroupMember(Base):
    __tablename__ = "meeting_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("meeting_groups.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | contact
    ref_id: Mapped[str] = mapped_column(String(40), primary_key=True)


class DialIn(Base):
    """A phone number of the business's own, shown on its start pages (not bridged)."""

    __tablename__ = "business_dial_ins"
    __table_args__ = (Index("ix_business_dial_ins_business", "business_id", "position"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    position: Mapped[int] = mapped_column(Integer)
    country: Mapped[str] = mapped_column(String(2))
    number: Mapped[str] = mapped_column(String(40))
    pin_format: Mapped[str] = mapped_column(String(120), default="")


class MeetingTicket(Base):
    """A join ticket: single use, bound to a room, an identity and a device. Only the
    token's SHA-256 is kept."""

    __tablename__ = "meeting_tickets"
    __table_args__ = (Index("ix_meeting_tickets_expiry", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    identity: Mapped[str] = mapped_column(String(60))  # user:<id> | contact:<id> | guest:<dev>
    device: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    host: Mapped[bool] = mapped_column(Boolean, default=False)
    participant_id: Mapped[str | None] = mapped_column(String(40))  # a rejoin keeps its place
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MeetingParticipant(Base):
    __tablename__ = "meeting_participants"
    __table_args__ = (Index("ix_meeting_participants_room", "room_id", "left_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    identity: Mapped[str] = mapped_column(String(60))
    device: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    host: Mapped[bool] = mapped_column(Boolean, default=False)
    admitted: Mapped[bool] = mapped_column(Boolean, default=False)  # False: in the lobby
    audio: Mapped[bool] = mapped_column(Boolean, default=True)
    video: Mapped[bool] = mapped_column(Boolean, default=True)
    host_muted_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    host_muted_video: Mapped[bool] = mapped_column(Boolean, default=False)
    sharing: Mapped[Sharing] = mapped_column(str_enum(Sharing, 8), default=Sharing.OFF)
    share_paused_by_host: Mapped[bool] = mapped_column(Boolean, default=False)
    may_record: Mapped[bool] = mapped_column(Boolean, default=False)
    recording: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(16))


class MeetingBan(Base):
    __tablename__ = "meeting_bans"
    __table_args__ = (Index("ix_meeting_bans_room", "room_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    identity: Mapped[str] = mapped_column(String(60))
    device: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    by_participant_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingMessage(Base):
    """A meeting's chat: text, or (encrypted meetings) ciphertext the server cannot read."""

    __tablename__ = "meeting_messages"
    __table_args__ = (Index("ix_meeting_messages_room", "room_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    sender_id: Mapped[str] = mapped_column(String(40))
    sender_name: Mapped[str] = mapped_column(String(100))
    to_id: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str | None] = mapped_column(Text)
    cipher: Mapped[str | None] = mapped_column(Text)
    iv: Mapped[str | None] = mapped_column(String(32))
    ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingAudit(Base):
    __tablename__ = "meeting_audit"
    __table_args__ = (Index("ix_meeting_audit_room", "room_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("meeting_rooms.id"))
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id"))
    action: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_name: Mapped[str | None] = mapped_column(String(100))
    actor_identity: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    subject_name: Mapped[str | None] = mapped_column(String(100))
    subject_identity: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
