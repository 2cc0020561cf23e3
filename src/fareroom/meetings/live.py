"""Inside a meeting: entering with a ticket, the lobby, leaving, and every rule a host's
command or a participant's frame must meet (docs/meetings.md). The meeting's socket
(``meetings.realtime``) calls these, one transaction each, and tells the pages what they
answer; nothing here trusts a page.

Every command locks the room's row first, so a meeting's changes happen one after another
whichever process serves its pages (on SQLite every write transaction is serialised anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import sha256
from fareroom.kit.clock import Clock
from fareroom.kit.errors import ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.meetings.errors import (
    HostOnly,
    InLobby,
    ParticipantNotFound,
    RecordingNotAllowed,
    RecordingNotPermitted,
    SharePausedByHost,
    TicketRefused,
    UnmuteNotAllowed,
)
from fareroom.meetings.repository import MeetingsRepository
from fareroom.meetings.service import REJOIN_SECONDS, MeetingsService
from fareroom.models.meeting import (
    MeetingAudit,
    MeetingBan,
    MeetingMessage,
    MeetingParticipant,
    MeetingRoom,
    MeetingStatus,
    RecordingPolicy,
    Sharing,
)

# Which participants' pages are gone although their rows say they are in: their process
# died (the socket layer asks the hub who was heard lately).
Lapsed = Callable[[Sequence[MeetingParticipant]], Awaitable[set[str]]]


def participant_out(p: MeetingParticipant) -> dict[str, Any]:
    muted = {"audio": p.host_muted_audio, "video": p.host_muted_video}
    return {"id": p.id, "name": p.name, "identity_kind": p.identity.partition(":")[0],
            "host": p.host, "audio": p.audio, "video": p.video, "sharing": p.sharing.value,
            "recording": p.recording, "may_record": p.may_record or p.host,
            "muted_by_host": muted}  # fmt: skip


def room_out(room: MeetingRoom, *, encrypted: bool, max_participants: int) -> dict[str, Any]:
    return {"code": room.code, "topic": room.topic, "encrypted": encrypted,
            "locked": room.locked, "allow_unmute": room.allow_unmute,
            "recording": room.recording.value, "status": room.status.value,
            "start_type": room.start_type.value,
            "max_participants": max_participants}  # fmt: skip


def message_out(m: MeetingMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "from": m.sender_id, "name": m.sender_name,
                           "at": m.created_at.isoformat(), "to": m.to_id, "ref": m.ref}  # fmt: skip
    if m.cipher is not None:
        out.update(cipher=m.cipher, iv=m.iv)
    else:
        out["text"] = m.text
    return out


@dataclass
class Entry:
    participant: MeetingParticipant
    room: MeetingRoom
    encrypted: bool
    rejoin: str  # a ticket for this page's next hello
    returning: bool  # the participant came back to their place (a reconnect)
    admitted: list[MeetingParticipant] = field(default_factory=list)  # let in from the lobby
    lapsed: list[MeetingParticipant] = field(default_factory=list)  # found gone, now left
    roster: list[MeetingParticipant] = field(default_factory=list)
    history: list[MeetingMessage] = field(default_factory=list)


@dataclass
class Targets:
    """What a host's command changed."""

    room: MeetingRoom
    changed: list[MeetingParticipant]


People = list[MeetingParticipant]


class LiveMeetings:
    def __init__(self, session: AsyncSession, clock: Clock, meetings: MeetingsService) -> None:
        self._repo = MeetingsRepository(session)
        self._session = session
        self._clock = clock
        self._meetings = meetings

    # ------------------------------------------------------------------ audit

    async def _audit(self, room: MeetingRoom, action: str, actor: MeetingParticipant | None,
                     subject: MeetingParticipant | None = None,
                     detail: str = "") -> None:  # fmt: skip
        await self._repo.add(MeetingAudit(
            id=new_id("mau"), room_id=room.id, business_id=room.business_id, action=action,
            actor_id=actor.id if actor else None, actor_name=actor.name if actor else None,
            actor_identity=actor.identity if actor else None,
            subject_id=subject.id if subject else None,
            subject_name=subject.name if subject else None,
            subject_identity=subject.identity if subject else None, detail=detail[:200],
            created_at=self._clock.now()))  # fmt: skip

    # ------------------------------------------------------------------ entering

    async def enter(self, token: str, *, device: str | None, user_id: str | None,
                    lapsed: Lapsed) -> Entry:  # fmt: skip
        """A hello's ticket, checked and spent; the participant's place in the meeting or
        its lobby."""
        now = self._clock.now()
        ticket = await self._repo.ticket(sha256(token) if isinstance(token, str) else "",
                                         lock=True)  # fmt: skip
        if ticket is None:
            raise TicketRefused("This ticket is not known; open the meeting's link again.")
        if ticket.used_at is not None:
            raise TicketRefused("This ticket was used already; open the meeting's link again.")
        if ticket.expires_at <= now:
            raise TicketRefused("This ticket has lapsed; open the meeting's link again.")
        if device != ticket.device or (ticket.identity.startswith("user:")
                                       and ticket.identity != f"user:{user_id}"):  # fmt: skip
            raise TicketRefused("This ticket belongs to another browser.")
        ticket.used_at = now
        await self._session.flush()  # spent, whatever follows
        room = await self._repo.room_by_id(ticket.room_id, lock=True)
        assert room is not None
        present, gone = await self._drop_lapsed(room, lapsed)
        await self._meetings.check_entry(room, ticket.identity, ticket.device, host=ticket.host,
                                         participant_id=ticket.participant_id,
                                         present=present)  # fmt: skip
        me, returning = await self._place(room, ticket.participant_id, ticket.identity,
                                          ticket.device, ticket.name, ticket.host)  # fmt: skip
        others = [p for p in present if p.id != me.id]
        admitted = await self._admit(room, me, others)
        encrypted = await self._encrypted(room)
        rejoin = await self._meetings.ticket(room, identity=me.identity, device=me.device,
                                             name=me.name, host=me.host, seconds=REJOIN_SECONDS,
                                             participant_id=me.id)  # fmt: skip
        entry = Entry(me, room, encrypted, rejoin, returning, admitted, gone)
        if me.admitted:
            entry.roster = [p for p in present if p.admitted]  # a returning me among them
            if not returning:
                entry.roster.append(me)  # the last to come
            entry.history = list(await self._repo.history(room.id, me.id, self._since(room)))
        return entry

    def _since(self, room: MeetingRoom) -> datetime:
        """Where this meeting's chat begins: a day back at most (a persistent room's chat
        of earlier meetings is not shown in a new one)."""
        return self._clock.now() - timedelta(days=1)

    async def _encrypted(self, room: MeetingRoom) -> bool:
        host = await self._repo.user(room.host_id)
        return bool(host and host.meetings_e2ee)

    async def _drop_lapsed(self, room: MeetingRoom, lapsed: Lapsed) -> tuple[People, People]:
        """Who is in (first come first), and who was dropped for being unheard."""
        present = list(await self._repo.present(room.id))
        gone = await lapsed(present) if present else set()
        dropped = [p for p in present if p.id in gone]
        for p in dropped:
            await self._left(room, p, "offline")
        return [p for p in present if p.id not in gone], dropped

    async def _place(self, room: MeetingRoom, participant_id: str | None, identity: str,
                     device: str, name: str, host: bool
                     ) -> tuple[MeetingParticipant, bool]:  # fmt: skip
        now = self._clock.now()
        old = None
        if participant_id is not None:
            old = await self._repo.participant(room.id, participant_id, lock=True)
            if old is not None and old.left_at is None:
                return old, True
        me = MeetingParticipant(
            id=new_id("mp"), room_id=room.id, business_id=room.business_id, identity=identity,
            device=device, name=name, host=host, admitted=False, audio=True, video=True,
            host_muted_audio=False, host_muted_video=False, sharing=Sharing.OFF,
            share_paused_by_host=False, recording=False,
            may_record=room.recording is RecordingPolicy.EVERYONE, joined_at=now)  # fmt: skip
        if old is not None:
            # back after the offline window: the host's word on them still holds
            me.host_muted_audio, me.host_muted_video = old.host_muted_audio, old.host_muted_video
            me.audio, me.video = old.audio and not old.host_muted_audio, old.video
            me.may_record = old.may_record
        await self._repo.add(me)
        return me, False

    async def _admit(self, room: MeetingRoom, me: MeetingParticipant,
                     others: Sequence[MeetingParticipant]) -> list[MeetingParticipant]:  # fmt: skip
        """Let ``me`` in, or into the lobby; a host coming in starts the meeting (again)
        and lets everyone waiting in (``others``: who else is in or waiting). Returns those
        let in from the lobby."""
        host_in = any(p.host and p.admitted for p in others)
        if me.host:
            room.status, me.admitted = MeetingStatus.LIVE, True
            waiting = [p for p in others if not p.admitted]
            for p in waiting:
                p.admitted = True
            await self._audit(room, "joined", me)
            await self._session.flush()
            return waiting
        if me.admitted:
            return []
        if host_in or (room.join_before_host and room.status is not MeetingStatus.ENDED):
            me.admitted = True
            room.status = MeetingStatus.LIVE
            await self._audit(room, "joined", me)
        await self._session.flush()
        return []

    def lobby_reason(self, room: MeetingRoom) -> str:
        return "meeting_ended" if room.status is MeetingStatus.ENDED else "waiting_for_host"

    # ------------------------------------------------------------------ leaving

    async def _left(self, room: MeetingRoom, p: MeetingParticipant, reason: str) -> None:
        p.left_at, p.left_reason = self._clock.now(), reason
        p.recording = False
        if p.admitted:
            await self._audit(room, "left", p, detail=reason)
        await self._session.flush()
        if not await self._repo.present(room.id):
            # the meeting emptied: its lock goes with it; an ended one stays ended
            room.locked = False
            if room.status is MeetingStatus.LIVE:
                room.status = MeetingStatus.IDLE
            await self._session.flush()

    async def leave(self, room_id: str, participant_id: str, reason: str
                    ) -> MeetingParticipant | None:  # fmt: skip
        """The participant's page went (closed, silent, or said ``leave``); None if they
        had left already (removed, ended: the host's command recorded it)."""
        room = await self._repo.room_by_id(room_id, lock=True)
        p = await self._repo.participant(room_id, participant_id, lock=True)
        if room is None or p is None or p.left_at is not None:
            return None
        await self._left(room, p, reason)
        return p

    # ------------------------------------------------------------------ who asks

    async def _actor(self, room_id: str, participant_id: str, *, host: bool = False
                     ) -> tuple[MeetingRoom, MeetingParticipant]:  # fmt: skip
        room = await self._repo.room_by_id(room_id, lock=True)
        me = await self._repo.participant(room_id, participant_id, lock=True)
        if room is None or me is None or me.left_at is not None:
            raise ParticipantNotFound()
        if not me.admitted:
            raise InLobby()
        if host and not me.host:
            raise HostOnly()
        return room, me

    async def _target(self, room: MeetingRoom, participant_id: object) -> MeetingParticipant:
        if not isinstance(participant_id, str) or len(participant_id) > 40:
            raise ParticipantNotFound()
        p = await self._repo.participant(room.id, participant_id, lock=True)
        if p is None or p.left_at is not None or not p.admitted:
            raise ParticipantNotFound()
        return p

    async def member(self, room_id: str, participant_id: str) -> MeetingParticipant:
        """An admitted participant (for frames that change nothing: signals)."""
        return (await self._actor(room_id, participant_id))[1]

    # ------------------------------------------------------------------ a host's commands

    async def lock(self, room_id: str, host_id: str, locked: bool) -> MeetingRoom:
        room, me = await self._actor(room_id, host_id, host=True)
        room.locked = locked
        await self._audit(room, "locked" if locked else "unlocked", me)
        return room

    async def end(self, room_id: str, host_id: str) -> list[MeetingParticipant]:
        """Ends the meeting for all; returns who was in it (and its lobby)."""
        room, me = await self._actor(room_id, host_id, host=True)
        present = list(await self._repo.present(room.id))
        await self._audit(room, "ended", me)
        await self._repo.leave_all(room.id, self._clock.now(), "ended")
        room.status, room.locked = MeetingStatus.ENDED, False
        await self._session.flush()
        return present

    async def remove(self, room_id: str, host_id: str, target_id: object) -> MeetingParticipant:
        room, me = await self._actor(room_id, host_id, host=True)
        target = await self._target(room, target_id)
        if target.id == me.id:
            raise ValidationFailed("You cannot remove yourself; leave instead.",
                                   code="cannot_remove_self")  # fmt: skip
        await self._repo.add(MeetingBan(id=new_id("ban"), room_id=room.id,
                                        identity=target.identity, device=target.device,
                                        name=target.name, by_participant_id=me.id,
                                        created_at=self._clock.now()))  # fmt: skip
        await self._audit(room, "removed", me, target)
        await self._left(room, target, "removed")
        return target

    async def mute(self, room_id: str, host_id: str, target_id: object, *, everyone: bool,
                   audio: bool, video: bool) -> Targets:  # fmt: skip
        """A host turns off the mic (``audio``) and/or camera (``video``) of one participant
        or of all the others."""
        room, me = await self._actor(room_id, host_id, host=True)
        if not (audio or video):
            raise ValidationFailed("Say what to turn off: audio, video or both.",
                                   code="nothing_to_mute")  # fmt: skip
        targets = await self._targets(room, me, target_id, everyone)
        for p in targets:
            if audio:
                p.audio, p.host_muted_audio = False, True
            if video:
                p.video, p.host_muted_video = False, True
            await self._audit(room, "muted", me, p,
                              detail="+".join(k for k, on in (("audio", audio), ("video", video))
                                              if on))  # fmt: skip
        await self._session.flush()
        return Targets(room, targets)

    async def unmute(self, room_id: str, host_id: str, target_id: object, *, everyone: bool
                     ) -> Targets:  # fmt: skip
        room, me = await self._actor(room_id, host_id, host=True)
        targets = await self._targets(room, me, target_id, everyone)
        for p in targets:
            p.host_muted_audio = p.host_muted_video = False
            await self._audit(room, "unmuted", me, p)
        await self._session.flush()
        return Targets(room, targets)

    async def _targets(self, room: MeetingRoom, me: MeetingParticipant, target_id: object,
                       everyone: bool) -> list[MeetingParticipant]:  # fmt: skip
        if everyone:
            return [p for p in await self._repo.present(room.id)
                    if p.admitted and p.id != me.id and not p.host]  # fmt: skip
        return [await self._target(room, target_id)]

    async def settings(self, room_id: str, host_id: str, *, allow_unmute: bool | None,
                       recording: RecordingPolicy | None) -> MeetingRoom:  # fmt: skip
        room, me = await self._actor(room_id, host_id, host=True)
        if allow_unmute is not None:
            room.allow_unmute = allow_unmute
        if recording is not None:
            room.recording = recording
        await self._audit(
            room,
            "settings",
            me,
            detail=f"allow_unmute={room.allow_unmute} recording={room.recording}",
        )
        return room

    async def answer_recording(self, room_id: str, host_id: str, target_id: object,
                               action: str) -> MeetingParticipant:  # fmt: skip
        """``grant``, ``deny`` or ``revoke`` a participant's permission to record."""
        room, me = await self._actor(room_id, host_id, host=True)
        target = await self._target(room, target_id)
        target.may_record = action == "grant"
        if action == "revoke":
            target.recording = False
        await self._audit(room, f"record_{action}", me, target)
        await self._session.flush()
        return target

    async def pause_share(self, room_id: str, host_id: str, target_id: object, paused: bool
                          ) -> MeetingParticipant:  # fmt: skip
        room, me = await self._actor(room_id, host_id, host=True)
        target = await self._target(room, target_id)
        if target.sharing is Sharing.OFF:
            raise ValidationFailed("That participant is not sharing their screen.",
                                   code="not_sharing")  # fmt: skip
        target.share_paused_by_host = paused
        target.sharing = Sharing.PAUSED if paused else Sharing.ON
        await self._audit(room, "share_paused" if paused else "share_resumed", me, target)
        await self._session.flush()
        return target

    # ------------------------------------------------------------------ a participant's own

    async def media(self, room_id: str, participant_id: str, *, audio: bool | None,
                    video: bool | None) -> MeetingParticipant:  # fmt: skip
        """The participant's own mic and camera. Turning one on that a host turned off is
        refused unless the room lets participants unmute themselves (then it lifts the
        host's mute)."""
        room, me = await self._actor(room_id, participant_id)
        for kind, on in (("audio", audio), ("video", video)):
            if on is None:
                continue
            held = getattr(me, f"host_muted_{kind}")
            if on and held and not room.allow_unmute and not me.host:
                raise UnmuteNotAllowed()
            setattr(me, kind, on)
            if on:
                setattr(me, f"host_muted_{kind}", False)
        await self._session.flush()
        return me

    async def share(self, room_id: str, participant_id: str, state: Sharing
                    ) -> MeetingParticipant:  # fmt: skip
        _, me = await self._actor(room_id, participant_id)
        if state is not Sharing.OFF and me.share_paused_by_host and state is Sharing.ON:
            raise SharePausedByHost()
        if state is Sharing.OFF:
            me.share_paused_by_host = False
        me.sharing = state
        await self._session.flush()
        return me

    async def request_recording(self, room_id: str, participant_id: str
                                ) -> MeetingParticipant:  # fmt: skip
        room, me = await self._actor(room_id, participant_id)
        if room.recording is RecordingPolicy.NO_ONE and not me.host:
            raise RecordingNotAllowed()
        if room.recording is RecordingPolicy.EVERYONE or me.host:
            me.may_record = True
        await self._audit(room, "record_request", me)
        await self._session.flush()
        return me

    async def recording(self, room_id: str, participant_id: str, on: bool) -> MeetingParticipant:
        room, me = await self._actor(room_id, participant_id)
        allowed = me.host or me.may_record or room.recording is RecordingPolicy.EVERYONE
        if on and (not allowed or (room.recording is RecordingPolicy.NO_ONE and not me.host)):
            raise RecordingNotPermitted()
        if on != me.recording:
            await self._audit(room, "recording_started" if on else "recording_stopped", me)
        me.recording = on
        await self._session.flush()
        return me

    # ------------------------------------------------------------------ reading

    async def roster(self, room_id: str, participant_id: str
                     ) -> list[MeetingParticipant] | None:  # fmt: skip
        """Everyone admitted, if ``participant_id`` is one of them (None otherwise)."""
        present = [p for p in await self._repo.present(room_id) if p.admitted]
        return present if any(p.id == participant_id for p in present) else None

    async def history(self, room_id: str, participant_id: str) -> list[MeetingMessage]:
        room = await self._repo.room_by_id(room_id)
        if room is None:
            return []
        return list(await self._repo.history(room_id, participant_id, self._since(room)))

    async def present_since(self, before: datetime) -> list[MeetingParticipant]:
        """Everyone in a meeting (or a lobby) who came before ``before``."""
        return list(await self._repo.present_before(before))

    async def encrypted(self, room_id: str) -> bool:
        room = await self._repo.room_by_id(room_id)
        return room is not None and await self._encrypted(room)
