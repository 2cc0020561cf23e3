"""The meeting's WebSocket, ``/ws/meeting`` (docs/meetings.md), served by
``realtime.websocket.PageSocket`` like the chat's pages (``realtime.pages.SocketPage``).

The page says hello with its ticket; the rules are ``meetings.live``'s, one transaction per
frame that changes anything; what follows is told through the hub, so participants served
by different processes meet (Redis):

- ``meeting:<room>``: everyone admitted (joined, left, participant, chat to all, room, ended);
- ``meeting:<room>:lobby``: those waiting for a host (admitted, ended);
- ``meeting:<room>:hosts``: the hosts (recording requests);
- ``meeting:<room>:p:<participant>``: one participant (signals, private chat, a host's word
  to them). A topic names its room, so a page can only ever reach its own meeting.

Signals (offers, answers, ICE candidates) touch no database: they go from one page's socket
to the other's topic, with ``from`` set here, never by the page. Each page knows the meeting's
roster from what it was told (``roster``, ``joined``, ``left``) and refuses a signal to
anyone else (``peer_not_found``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import orjson
from pydantic import Field, StrictBool
from starlette.requests import cookie_parser

from fareroom.accounts.service import COOKIE, AccountsService
from fareroom.kit.errors import FareroomError, Forbidden, Unauthenticated
from fareroom.meetings.chat import MeetingChat
from fareroom.meetings.errors import (
    InLobby,
    MeetingFull,
    MeetingLocked,
    ParticipantNotFound,
    PeerNotFound,
    Removed,
)
from fareroom.meetings.live import (
    LiveMeetings,
    message_out,
    participant_out,
    room_out,
)
from fareroom.meetings.service import MeetingsService
from fareroom.models.meeting import MeetingParticipant, MeetingRoom, RecordingPolicy, Sharing
from fareroom.realtime.connections import Connection, Registry
from fareroom.realtime.hub import Hub, dumps
from fareroom.realtime.pages import (
    BAD_HELLO,
    UNAUTHORISED,
    Frame,
    Hello,
    PageTimings,
    Ping,
    SocketPage,
    handler,
    ref_of,
)
from fareroom.realtime.websocket import PageSocket

log = logging.getLogger("fareroom.meetings")
DEVICE_COOKIE = "fareroom_device"
REMOVED, ENDED, LOCKED, FULL, REPLACED = 4403, 4410, 4423, 4429, 4409


class MeetingUnit(Protocol):
    accounts: AccountsService
    meetings: MeetingsService
    meeting_live: LiveMeetings


class UnitOfWork(Protocol):
    def __call__(self, business_id: str | None = None
                 ) -> AbstractAsyncContextManager[MeetingUnit]: ...  # fmt: skip


@dataclass(frozen=True)
class MeetingPages:
    """What the meeting's sockets need (built by ``bootstrap``)."""

    unit_of_work: UnitOfWork
    hub: Hub
    registry: Registry
    timings: PageTimings
    base_url: str
    ice_servers: list[dict[str, Any]]
    max_participants: int
    chat: MeetingChat


def room_topic(room_id: str) -> str:
    return f"meeting:{room_id}"


def peer_topic(room_id: str, participant_id: str) -> str:
    return f"meeting:{room_id}:p:{participant_id}"


def presence_key(participant_id: str) -> str:
    return f"mp:{participant_id}"


# ---------------------------------------------------------------- frames


class MeetingHello(Hello):
    ticket: Any = None


class Signal(Frame):
    problems = {"to": ("peer_not_found", "Name the participant the signal is for ('to')."),
                "data": ("invalid_signal", "A signal's 'data' is an object.")}  # fmt: skip
    to: str = Field(min_length=1, max_length=40)
    data: dict[str, Any]


class ChatFrame(Frame):
    text: str | None = Field(default=None, max_length=4000)
    cipher: str | None = Field(default=None, max_length=8192)
    iv: str | None = Field(default=None, max_length=32)
    to: str | None = Field(default=None, max_length=40)


class MediaFrame(Frame):
    audio: StrictBool | None = None
    video: StrictBool | None = None


class ShareFrame(Frame):
    problems = {"state": ("invalid_share", "'state' is on, paused or off.")}
    state: Literal["on", "paused", "off"]


class RecordingFrame(Frame):
    problems = {"on": ("invalid_recording", "'on' is true or false.")}
    on: StrictBool


class TargetFrame(Frame):
    """A host's command about one participant."""

    problems = {"participant": ("participant_not_found", "Name the participant.")}
    participant: str = Field(min_length=1, max_length=40)


class MuteFrame(Frame):
    participant: str | None = Field(default=None, max_length=40)
    all: StrictBool = False
    audio: StrictBool = True
    video: StrictBool = False


class SettingsFrame(Frame):
    problems = {"recording": ("invalid_settings", "'recording' is ask, everyone or no_one.")}
    allow_unmute: StrictBool | None = None
    recording: Literal["ask", "everyone", "no_one"] | None = None


# ---------------------------------------------------------------- the page


class MeetingPage(SocketPage):
    __slots__ = ("pages", "room_id", "me", "name", "host", "admitted", "roster", "_early", "_held",
                 "_nonce", "_going")  # fmt: skip
    role = "meeting"
    hello_frame = MeetingHello

    def __init__(self, socket: PageSocket, pages: MeetingPages, headers: Mapping[str, str]
                 ) -> None:  # fmt: skip
        super().__init__(socket, pages.registry, pages.timings, headers)
        self.pages = pages
        self.room_id = ""
        self.me = ""
        self.name = ""
        self.host = False
        self.admitted = False
        self.roster: set[str] = set()
        self._early: list[str] | None = []  # the room's messages that came before welcome
        # Signals for this page that came before its roster: those let in from the lobby
        # together may offer to each other while this page is still being let in, and its
        # answer would be refused (its roster not known yet); it hears them after its roster.
        self._held: list[str] | None = []
        self._nonce = secrets.token_hex(8)
        self._going = False  # removed, ended or replaced: its going says nothing more

    @classmethod
    def factory(cls, pages: MeetingPages
                ) -> Callable[[PageSocket, Mapping[str, str]], MeetingPage]:  # fmt: skip
        return lambda socket, headers: cls(socket, pages, headers)

    def close_code(self, exc: FareroomError) -> int:
        if isinstance(exc, Removed):
            return REMOVED
        if isinstance(exc, MeetingLocked):
            return LOCKED
        if isinstance(exc, MeetingFull):
            return FULL
        return UNAUTHORISED if isinstance(exc, Unauthenticated | Forbidden) else BAD_HELLO

    # ------------------------------------------------------------ hello

    def _origin_ok(self) -> bool:
        origin = self.header("origin")
        if origin is None:
            return True  # not a browser
        allowed = {urlsplit(self.pages.base_url).netloc, self.header("host")}
        return urlsplit(origin).netloc in allowed

    async def _lapsed(self, present: Sequence[MeetingParticipant]) -> set[str]:
        """Those of ``present`` whose page nobody has heard for the offline window (their
        process went away without telling)."""
        now = self.registry.now()
        limit = now - self.pages.timings.offline_after
        seen = await self.pages.hub.last_seen([presence_key(p.id) for p in present])
        return {p.id for p in present
                if seen.get(presence_key(p.id), p.joined_at.timestamp()) < limit}  # fmt: skip

    async def hello(self, frame: MeetingHello) -> None:
        if not self._origin_ok():
            raise Forbidden("This meeting page belongs to another site.", code="origin_forbidden")
        if not isinstance(frame.ticket, str) or not 10 <= len(frame.ticket) <= 100:
            raise Unauthenticated("Say hello with the ticket the start page gave.",
                                  code="ticket_refused")  # fmt: skip
        cookies = cookie_parser(self.header("cookie") or "")
        device = cookies.get(DEVICE_COOKIE)
        async with self.pages.unit_of_work() as s:
            user_id = None
            if cookies.get(COOKIE):
                try:
                    caller = await s.accounts.session_caller(cookies.get(COOKIE))
                    user_id = caller.user.id if caller.user else None
                except Unauthenticated:
                    user_id = None
            entry = await s.meeting_live.enter(frame.ticket, device=device, user_id=user_id,
                                               lapsed=self._lapsed)  # fmt: skip
            me, room = entry.participant, entry.room
            view = room_out(
                room, encrypted=entry.encrypted, max_participants=self.pages.max_participants
            )
            lobby_reason = s.meeting_live.lobby_reason(room)
        self.room_id, self.me, self.name, self.host = room.id, me.id, me.name, me.host
        conn = await self.open(presence_key(me.id))
        hub = self.pages.hub
        # Another process's page of the same participant (a reconnect served elsewhere)
        # steps aside: it hears this before this page listens.
        await hub.publish(peer_topic(room.id, me.id), {"type": "superseded", "by": self._nonce})
        await self.registry.listen(conn, peer_topic(room.id, me.id), self._to_me)
        if me.admitted:
            await self.registry.listen(conn, room_topic(room.id), self._to_room)
            if me.host:
                await self.registry.listen(conn, f"meeting:{room.id}:hosts")
        else:
            await self.registry.listen(conn, f"meeting:{room.id}:lobby", self._to_lobby)
        timings = self.timings
        self.send({"type": "welcome", "you": participant_out(me), "room": view,
                   "rejoin": entry.rejoin, "heartbeat": timings.heartbeat,
                   "offline_after": timings.offline_after,
                   "ice_servers": self.pages.ice_servers})  # fmt: skip
        if me.admitted:
            self._admitted_now(entry.roster, [message_out(m) for m in entry.history])
        else:
            self._early = None
            self.send({"type": "lobby", "reason": lobby_reason})
        out: list[tuple[str, dict[str, Any]]] = [
            (room_topic(room.id), {"type": "left", "participant": p.id, "reason": "offline"})
            for p in entry.lapsed]  # fmt: skip
        if me.admitted:
            kind = "participant" if entry.returning else "joined"
            out.append((room_topic(room.id), {"type": kind, "participant": participant_out(me)}))
        for p in entry.admitted:
            out.append((room_topic(room.id), {"type": "joined",
                                              "participant": participant_out(p)}))  # fmt: skip
        if entry.admitted:
            out.append((f"meeting:{room.id}:lobby", {"type": "admitted"}))
        await hub.publish_many(out)

    def _admitted_now(self, roster: Sequence[MeetingParticipant],
                      history: list[dict[str, Any]]) -> None:  # fmt: skip
        self.admitted = True
        self.roster = {p.id for p in roster if p.id != self.me}
        self.send({"type": "roster", "participants": [participant_out(p) for p in roster]})
        self.send({"type": "history", "messages": history})
        early, self._early = self._early or [], None
        for text in early:
            self._to_room(text)
        held, self._held = self._held or [], None
        for text in held:
            self._to_me(text)

    # ------------------------------------------------------------ what the hub brings

    def _to_room(self, text: str) -> None:
        if self._early is not None:
            self._early.append(text)
            return
        conn = self.conn
        if conn is None:
            return
        if '"type":"joined"' in text or '"type":"left"' in text or '"type":"ended"' in text:
            data = orjson.loads(text)
            kind = data.get("type")
            if kind == "joined":
                pid = data["participant"]["id"]
                if pid == self.me:
                    return  # its welcome told it
                self.roster.add(pid)
            elif kind == "left":
                self.roster.discard(data.get("participant"))
            elif kind == "ended":
                self._close(ENDED, "ended", text)
                return
        conn.send(text)

    def _to_me(self, text: str) -> None:
        conn = self.conn
        if conn is None:
            return
        if '"type":"superseded"' in text:
            if orjson.loads(text).get("by") != self._nonce:
                self._going = True
                conn.close_soon(REPLACED, "replaced by a newer page")
            return
        if '"type":"removed"' in text:
            self._close(REMOVED, "removed", text)
            return
        if self._held is not None and '"type":"signal"' in text:
            self._held.append(text)
            return
        conn.send(text)

    def _to_lobby(self, text: str) -> None:
        conn = self.conn
        if conn is None:
            return
        if '"type":"ended"' in text:
            conn.send(dumps({"type": "lobby", "reason": "meeting_ended"}))
            return
        if '"type":"admitted"' in text and not self.admitted:
            asyncio.get_running_loop().create_task(self._let_in())

    def _close(self, code: int, reason: str, text: str) -> None:
        conn = self.conn
        if conn is None:
            return
        self._going = True
        conn.send(text)
        conn.close_soon(code, reason)

    async def _let_in(self) -> None:
        """A host came: this page leaves the lobby for the meeting."""
        conn = self.conn
        if conn is None or self.admitted:
            return
        self.admitted = True
        self._early = []
        await self.registry.listen(conn, room_topic(self.room_id), self._to_room)
        async with self.pages.unit_of_work() as s:
            roster = await s.meeting_live.roster(self.room_id, self.me)
            said = await s.meeting_live.history(self.room_id, self.me)
        history = [message_out(m) for m in said]
        if roster is None:  # gone meanwhile
            return
        self.send({"type": "admitted"})
        self._admitted_now(roster, history)

    # ------------------------------------------------------------ the page's going

    async def ended(self, conn: Connection, shutdown: bool) -> None:
        if shutdown or self._going or conn.replaced:
            return  # a restart (the page comes back), or a host's word that was recorded
        await self.pages.hub.forget([conn.key])
        async with self.pages.unit_of_work() as s:
            gone = await s.meeting_live.leave(self.room_id, self.me,
                                              "offline" if conn.stale else "left")  # fmt: skip
        if gone is not None and gone.admitted:
            await self.pages.hub.publish(room_topic(self.room_id), {
                "type": "left", "participant": gone.id, "reason": gone.left_reason})  # fmt: skip

    # ------------------------------------------------------------ frames

    def _in(self) -> None:
        if not self.admitted:
            raise InLobby()

    async def _publish(self, *messages: tuple[str, dict[str, Any]]) -> None:
        await self.pages.hub.publish_many(messages)

    def _changed(self, p: MeetingParticipant) -> tuple[str, dict[str, Any]]:
        return room_topic(self.room_id), {"type": "participant", "participant": participant_out(p)}

    async def signal(self, frame: Signal) -> None:
        self._in()
        if frame.to not in self.roster:
            raise PeerNotFound()
        await self.pages.hub.publish(
            peer_topic(self.room_id, frame.to),
            {"type": "signal", "from": self.me, "data": frame.data},
        )

    async def chat(self, frame: ChatFrame) -> None:
        self._in()
        if frame.to is not None and frame.to not in self.roster:
            raise ParticipantNotFound()
        msg = await self.pages.chat.say(self.room_id, self.me, self.name, text=frame.text,
                                        cipher=frame.cipher, iv=frame.iv, to=frame.to,
                                        ref=ref_of(frame.ref))  # fmt: skip
        out = {"type": "chat", **message_out(msg)}
        if msg.to_id is None:
            await self._publish((room_topic(self.room_id), out))
        else:
            await self._publish(
                (peer_topic(self.room_id, msg.to_id), out), (peer_topic(self.room_id, self.me), out)
            )

    async def media(self, frame: MediaFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            me = await s.meeting_live.media(self.room_id, self.me, audio=frame.audio,
                                            video=frame.video)  # fmt: skip
        await self._publish(self._changed(me))

    async def share(self, frame: ShareFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            me = await s.meeting_live.share(self.room_id, self.me, Sharing(frame.state))
        await self._publish(self._changed(me))

    async def record_request(self, frame: Frame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            me = await s.meeting_live.request_recording(self.room_id, self.me)
        if me.may_record:  # allowed at once (a host, or a room where everyone may)
            await self._publish(
                (peer_topic(self.room_id, me.id), {"type": "record_answer", "granted": True}),
                self._changed(me),
            )
            return
        await self._publish(
            (
                f"meeting:{self.room_id}:hosts",
                {"type": "record_requested", "participant": participant_out(me)},
            )
        )

    async def recording(self, frame: RecordingFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            me = await s.meeting_live.recording(self.room_id, self.me, frame.on)
        await self._publish(self._changed(me))

    async def leave(self, frame: Frame) -> None:
        conn = self.conn
        async with self.pages.unit_of_work() as s:
            gone = await s.meeting_live.leave(self.room_id, self.me, "left")
        self._going = True
        if gone is not None and gone.admitted:
            await self._publish((room_topic(self.room_id), {"type": "left", "participant": gone.id,
                                                            "reason": "left"}))  # fmt: skip
        if conn is not None:
            conn.close_soon(1000, "left")

    # a host's commands

    async def _room_changed(self, room: MeetingRoom) -> None:
        async with self.pages.unit_of_work() as s:
            encrypted = await s.meeting_live.encrypted(room.id)
        view = room_out(room, encrypted=encrypted, max_participants=self.pages.max_participants)
        await self._publish((room_topic(self.room_id), {"type": "room", "room": view}))

    async def lock(self, frame: Frame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            room = await s.meeting_live.lock(self.room_id, self.me, frame.type == "lock")
        await self._room_changed(room)

    async def settings(self, frame: SettingsFrame) -> None:
        self._in()
        recording = RecordingPolicy(frame.recording) if frame.recording else None
        async with self.pages.unit_of_work() as s:
            room = await s.meeting_live.settings(self.room_id, self.me,
                                                 allow_unmute=frame.allow_unmute,
                                                 recording=recording)  # fmt: skip
        await self._room_changed(room)

    async def end(self, frame: Frame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            await s.meeting_live.end(self.room_id, self.me)
        ended = {"type": "ended", "by": self.me}
        await self._publish(
            (room_topic(self.room_id), ended), (f"meeting:{self.room_id}:lobby", ended)
        )

    async def remove(self, frame: TargetFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            gone = await s.meeting_live.remove(self.room_id, self.me, frame.participant)
        await self._publish((peer_topic(self.room_id, gone.id), {"type": "removed", "by": self.me}),
                            (room_topic(self.room_id), {"type": "left", "participant": gone.id,
                                                        "reason": "removed"}))  # fmt: skip

    async def mute(self, frame: MuteFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            done = await s.meeting_live.mute(self.room_id, self.me, frame.participant,
                                             everyone=frame.all, audio=frame.audio,
                                             video=frame.video)  # fmt: skip
        word = {"type": "muted", "audio": frame.audio, "video": frame.video, "by": self.me}
        await self._publish(
            *[(peer_topic(self.room_id, p.id), word) for p in done.changed],
            *[self._changed(p) for p in done.changed],
        )

    async def unmute(self, frame: MuteFrame) -> None:
        self._in()
        async with self.pages.unit_of_work() as s:
            done = await s.meeting_live.unmute(self.room_id, self.me, frame.participant,
                                               everyone=frame.all)  # fmt: skip
        word = {"type": "unmuted", "by": self.me}
        await self._publish(
            *[(peer_topic(self.room_id, p.id), word) for p in done.changed],
            *[self._changed(p) for p in done.changed],
        )

    async def answer_recording(self, frame: TargetFrame) -> None:
        self._in()
        action = frame.type.removeprefix("record_")
        async with self.pages.unit_of_work() as s:
            p = await s.meeting_live.answer_recording(self.room_id, self.me, frame.participant,
                                                      action)  # fmt: skip
        word = ({"type": "record_revoked"} if action == "revoke"
                else {"type": "record_answer", "granted": action == "grant"})  # fmt: skip
        await self._publish((peer_topic(self.room_id, p.id), word), self._changed(p))

    async def pause_share(self, frame: TargetFrame) -> None:
        self._in()
        paused = frame.type == "share_pause"
        async with self.pages.unit_of_work() as s:
            p = await s.meeting_live.pause_share(self.room_id, self.me, frame.participant, paused)
        word = {"type": "share_paused" if paused else "share_resumed", "by": self.me}
        await self._publish((peer_topic(self.room_id, p.id), word), self._changed(p))


MeetingPage.handlers = {
    "ping": handler(Ping, SocketPage.ping),
    "signal": handler(Signal, MeetingPage.signal),
    "chat": handler(ChatFrame, MeetingPage.chat),
    "media": handler(MediaFrame, MeetingPage.media),
    "share": handler(ShareFrame, MeetingPage.share),
    "record_request": handler(Frame, MeetingPage.record_request),
    "recording": handler(RecordingFrame, MeetingPage.recording),
    "leave": handler(Frame, MeetingPage.leave),
    "lock": handler(Frame, MeetingPage.lock),
    "unlock": handler(Frame, MeetingPage.lock),
    "end": handler(Frame, MeetingPage.end),
    "remove": handler(TargetFrame, MeetingPage.remove),
    "mute": handler(MuteFrame, MeetingPage.mute),
    "unmute": handler(MuteFrame, MeetingPage.unmute),
    "record_grant": handler(TargetFrame, MeetingPage.answer_recording),
    "record_deny": handler(TargetFrame, MeetingPage.answer_recording),
    "record_revoke": handler(TargetFrame, MeetingPage.answer_recording),
    "share_pause": handler(TargetFrame, MeetingPage.pause_share),
    "share_resume": handler(TargetFrame, MeetingPage.pause_share),
    "settings": handler(SettingsFrame, MeetingPage.settings),
}
