"""The chat's WebSocket endpoints: ``/ws/client`` (a client's page) and ``/ws/agent`` (the
agent console), served by ``realtime.websocket.PageSocket`` (``routes``). The protocol is
written down in docs/realtime.md.

Every socket starts with ``hello`` (a client: its resume token; an agent: the console's
sign-in cookie, checked with the page's origin). Then every message the page sends is a
heartbeat as well; a socket silent for the offline window is closed and its party recorded
offline from when it was last heard (``Registry.watch``). A message that cannot be carried
out gets an ``error`` (code and sentence, with the message's ``ref``) and changes nothing;
the socket stays open. Each action runs in one transaction; what follows it (collections,
telling both parties, routing) is ``relay``'s.

The handlers decide nothing: each reads its frame into its model (``chat.schemas``), calls
the services (which check every rule, for every caller), and sends what they answer. The
pages get what they need (``Pages``, built by ``bootstrap``): a unit of work, the relay,
this process's connections and the timings; they read no settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import orjson
from starlette.requests import cookie_parser

from fareroom.accounts.service import COOKIE, Caller
from fareroom.chat.live import agent_key, visit_key
from fareroom.chat.relay import ChatUnit, Relay, UnitOfWork, message_out, request_out, visit_view
from fareroom.chat.schemas import (
    AgentMessage,
    AvailabilityFrame,
    ClientFrame,
    ClientMessage,
    Frame,
    Hello,
    MalformedMessage,
    MeterAction,
    PaymentRequestMessage,
    Ping,
    RequestFrame,
    ServiceMark,
    SessionFrame,
)
from fareroom.chat.service import check_agent
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.kit.errors import (
    FareroomError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from fareroom.kit.ratelimit import Limit, RateLimited
from fareroom.metering.schemas import session_out
from fareroom.metering.tasks import session_topic
from fareroom.models.client import Card
from fareroom.models.metering import ChatSession
from fareroom.realtime.connections import Connection, Registry
from fareroom.realtime.hub import dumps
from fareroom.realtime.websocket import PageSocket, Routes

log = logging.getLogger("fareroom.chat")
UNAUTHORISED = 4401
BAD_HELLO = 4400


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


PONG = dumps({"type": "pong"})


def _ping(text: str | None) -> str | None:
    """``"ping"`` for a heartbeat, ``"reply"`` for one that asks for a ``pong`` (a page
    checking that its socket still reaches us), None for anything else."""
    if text is None or len(text) > 200 or '"ping"' not in text:
        return None
    try:
        data = orjson.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "ping":
        return None
    return "reply" if data.get("reply") is True else "ping"


@dataclass(frozen=True)
class PageTimings:
    heartbeat: float  # seconds between a page's heartbeats
    offline_after: float  # seconds: a page not heard this long is offline
    hello: float  # seconds: a page must say hello within this
    max_message_bytes: int  # the largest message a page may send


@dataclass(frozen=True)
class Pages:
    """What the pages' sockets need."""

    unit_of_work: UnitOfWork
    relay: Relay
    registry: Registry
    timings: PageTimings
    base_url: str  # this site: the console's socket accepts its pages' origin
    frames: Limit  # every frame of a socket (pings included)


F = TypeVar("F", bound=Frame)
# A frame's model and what is done with it.
Handler = tuple[type[Frame], Callable[[Any, Any], Awaitable[None]]]


def handler(frame: type[F], fn: Callable[[Any, F], Awaitable[None]]) -> Handler:
    return frame, fn


class Page:
    """One page's socket: hello, then messages until it closes or goes silent.

    The socket (``realtime.websocket.PageSocket``) hands over each message as it arrives.
    A heartbeat that finds the page idle is handled there and then (being heard is all it
    does); any other message is queued and the page's messages are carried out one after
    another by a task that runs while there are some, so a page costs no task while it
    only beats."""

    __slots__ = ("socket", "pages", "relay", "registry", "conn", "_headers", "_inbox", "_busy",
                 "_lost", "_shutdown", "_timer")  # fmt: skip
    role = ""
    handlers: ClassVar[dict[str, Handler]] = {}

    def __init__(self, socket: PageSocket, pages: Pages, headers: Mapping[str, str]) -> None:
        self.socket = socket
        self.pages = pages
        self.relay = pages.relay
        self.registry = pages.registry
        self.conn: Connection | None = None
        self._headers: Mapping[str, str] | None = headers  # until greeted
        self._inbox: deque[str | None] = deque()
        self._busy = False
        self._lost = False
        self._shutdown = False
        # A page that does not say hello in time is closed (4400): an open socket that
        # never proves anything must not be held.
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            pages.timings.hello, self._no_hello
        )

    @classmethod
    def factory(cls, pages: Pages) -> Callable[[PageSocket, Mapping[str, str]], Page]:
        return lambda socket, headers: cls(socket, pages, headers)

    # ------------------------------------------------------------ the socket's side

    def received(self, text: str | None) -> None:
        if self._lost:
            return
        if self.conn is not None:
            self.registry.heard(self.conn)
            kind = None if self._busy else _ping(text)
            if kind == "reply":
                self.conn.send(PONG)
            if kind:
                return
        self._inbox.append(text)
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())

    def lost(self, shutdown: bool) -> None:
        self._lost, self._shutdown = True, shutdown
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())

    def _no_hello(self) -> None:
        self._timer = None
        if self.conn is None and not self._busy:
            self._refuse(ValidationFailed("Say hello first.", code="hello_expected"))

    async def _drain(self) -> None:
        try:
            while self._inbox and not self._lost:
                text = self._inbox.popleft()
                if self.conn is not None:
                    await self.dispatch(text)
                elif not await self._greet(text):
                    self._inbox.clear()
        except Exception:
            log.exception("%s page failed", self.role)
        finally:
            self._busy = False
        if self._lost:
            try:
                await self._leave()
            except Exception:
                log.exception("%s page's end not recorded", self.role)

    async def _greet(self, text: str | None) -> bool:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            async with self.registry.greeting:
                await self.hello(Hello.read(self._parse(text)))
            return True
        except FareroomError as exc:
            self._refuse(exc)
        except Exception:
            log.exception("%s hello failed", self.role)
            await self._fail()
        finally:
            self._headers = None
        return False

    async def _leave(self) -> None:
        """The socket closed: the page is gone, unless the server is only restarting (its
        presence then lapses by itself, should it not come back) or a newer page of the
        same party took over."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        await self.registry.remove(conn)
        if self._shutdown or conn.stale or await self.registry.superseded(conn):
            return
        await self.relay.hub.forget([conn.key])
        await self.gone(self.registry.now())
        newer = self.registry.current(conn.key)
        if newer is not None and isinstance(newer.page, Page):
            # A newer page of the party (a reload) said hello while this one's going was
            # recorded, and may have read the state before the offline was written: it is
            # here, so its party is online again.
            self.registry.heard(newer)
            await self.registry.flush_presence()
            await newer.page.mark("online", self.registry.now())

    async def _fail(self) -> None:
        """Our fault (e.g. the database did not answer): the page is told and reconnects."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.registry.remove(conn)
        self.socket.send_text(dumps({"type": "error", "code": "internal_error",
                                     "message": "Something went wrong on our side; "
                                     "connecting again."}))  # fmt: skip
        self.socket.close(1011, "internal_error")

    def _refuse(self, exc: FareroomError) -> None:
        code = UNAUTHORISED if isinstance(exc, Unauthenticated | Forbidden) else BAD_HELLO
        self.socket.send_text(dumps({"type": "error", **_problem(exc)}))
        self.socket.close(code, exc.code[:100])

    def header(self, name: str) -> str | None:
        """A header of the socket's request (only while greeting)."""
        return self._headers.get(name) if self._headers is not None else None

    def _parse(self, text: str | None) -> dict[str, Any]:
        if text is None:
            raise MalformedMessage("Send JSON text, not binary frames.")
        limit = self.pages.timings.max_message_bytes
        if len(text.encode()) > limit:
            raise ValidationFailed(f"A message has at most {limit} bytes.",
                                   code="message_too_large")  # fmt: skip
        try:
            data = orjson.loads(text)
        except ValueError:
            raise MalformedMessage("The message is not valid JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise MalformedMessage("A message is a JSON object with a 'type'.")
        return data

    async def dispatch(self, text: str | None) -> None:
        ref = None
        try:
            data = self._parse(text)
            ref = data.get("ref")
            found = self.handlers.get(data["type"])
            if found is None:
                raise ValidationFailed(f"Unknown message type {data['type'][:40]!r}.",
                                       code="unknown_type")  # fmt: skip
            frame, handle = found
            await handle(self, frame.read(data))
            if ref is not None:  # the page waits for the answer (e.g. to clear a form)
                self.send({"type": "done", "ref": _ref(ref)})
        except (FareroomError, GatewayError) as exc:
            err = as_fareroom_error(exc) if isinstance(exc, GatewayError) else exc
            self.send({"type": "error", **_problem(err), "ref": _ref(ref)})
        except Exception:
            log.exception("%s message failed", self.role)
            self.send(
                {
                    "type": "error",
                    "code": "internal_error",
                    "ref": _ref(ref),
                    "message": "Something went wrong on our side; nothing was changed.",
                }
            )

    def send(self, message: dict[str, Any]) -> None:
        if self.conn is not None:
            self.conn.send_json(message)

    async def open(self, key: str) -> Connection:
        self.conn = self.registry.open(self.socket, key)
        self.conn.page = self
        await self.registry.flush_presence()
        return self.conn

    async def follow(self, session_id: str) -> dict[str, Any] | None:
        """Listen to a session and send its state and recent messages; returns the state
        sent (None if the page went in the meantime: a follow may be started by a message
        as the page leaves)."""
        if self.conn is None or self.conn.closed:
            return None
        await self.registry.listen(self.conn, session_topic(session_id))
        found = await self.snapshot(session_id)
        self.send({"type": "session", **found})
        return dict(found["session"])

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        async with self.pages.unit_of_work() as s:
            state = await s.metering.state(await self._business(), session_id)
            messages = await s.live.messages(session_id)
            requests = await s.chat.requests_of_session(state.session.business_id, session_id)
            about = await self.about(s, state.session)
        return {"session": session_out(state).model_dump(mode="json"),
                "messages": [message_out(m) for m in messages],
                "requests": [request_out(r) for r in requests], **about}  # fmt: skip

    async def about(self, s: ChatUnit, session: ChatSession) -> dict[str, Any]:
        """What else this page shows of a session it follows."""
        return {}

    def watcher(self, kind: str) -> Callable[[str], None]:
        """A listener that passes messages on and follows the session a ``kind`` message
        (connected, assigned) names."""
        conn = self.conn
        assert conn is not None

        def listen(text: str) -> None:
            conn.send(text)
            if f'"type":"{kind}"' in text:
                session_id = orjson.loads(text).get("session_id")
                if isinstance(session_id, str):
                    asyncio.get_running_loop().create_task(self.follow(session_id))

        return listen

    async def ping(self, frame: Ping) -> None:
        """A heartbeat: being heard is all it does, but for a ``pong`` when asked."""
        if frame.reply is True:
            self.send({"type": "pong"})

    async def _business(self) -> str:
        raise NotImplementedError

    async def hello(self, frame: Hello) -> None:
        raise NotImplementedError

    async def gone(self, at: float) -> None:
        """The page went away at ``at`` (closed now, or silent since then)."""
        await self.mark("offline", at)

    async def mark(self, kind: str, at: float) -> None:
        """Record the page's party ``kind`` (online, offline) in its open sessions from
        ``at``."""
        raise NotImplementedError

    async def presence(self, session_ids: list[str], kind: str, party: str, at: float) -> None:
        for sid in session_ids:
            business_id = await self._business()
            try:
                async with self.pages.unit_of_work(business_id) as s:
                    online = kind == "online"
                    if not await s.metering.presence(business_id, sid, party, online=online,
                                                     at=_at(at)):  # fmt: skip
                        continue
            except FareroomError as exc:
                log.info("%s %s in %s not recorded: %s", party, kind, sid, exc.code)
                continue
            await self.relay.announce(business_id, sid)


def _ref(ref: object) -> str | None:
    return ref[:64] if isinstance(ref, str) else None


def _problem(err: FareroomError) -> dict[str, Any]:
    if isinstance(err, RateLimited):
        return {"code": err.code, "message": err.message, "retry_after": err.retry_after}
    return {"code": err.code, "message": err.message}


# ---------------------------------------------------------------- the client's page


class ClientPage(Page):
    __slots__ = ("visit_id", "business_id")
    role = "client"

    def __init__(self, socket: PageSocket, pages: Pages, headers: Mapping[str, str]) -> None:
        super().__init__(socket, pages, headers)
        self.visit_id = ""
        self.business_id = ""

    async def _business(self) -> str:
        return self.business_id

    async def hello(self, frame: Hello) -> None:
        async with self.pages.unit_of_work() as s:
            visit = await s.live.visit(frame.token, lock=True)
            token = s.live.rotate(visit)
            view = await visit_view(s, visit)
        self.visit_id, self.business_id = visit.id, visit.business_id
        conn = await self.open(visit_key(visit.id))
        await self.registry.listen(conn, visit_key(visit.id), self.watcher("connected"))
        self.send({"type": "welcome", "token": token, **self.timing(), "visit": view})
        if visit.session_id:
            # online again where the state just sent has the client offline (``presence``
            # looks again in its own transaction)
            if await self.follow(visit.session_id) is not None:
                await self.presence([visit.session_id], "online", "client", self.registry.now())
        else:
            await self.relay.visit_back(visit)

    def timing(self) -> dict[str, float]:
        timings = self.pages.timings
        return {"heartbeat": timings.heartbeat, "offline_after": timings.offline_after}

    async def message(self, frame: ClientMessage) -> None:
        ref = _ref(frame.ref)
        async with self.pages.unit_of_work(self.business_id) as s:
            session = await s.live.visit_session(self.visit_id, frame.session)
            said, new = await s.live.say(session, "client", frame.text, ref=ref)
        if new:
            await self.relay.say(said, ref=ref)
        else:  # a resend of a message stored already: only this page hears it (again)
            self.send({"type": "message", "session_id": said.session_id, **message_out(said),
                       "ref": ref})  # fmt: skip

    async def about(self, s: ChatUnit, session: ChatSession) -> dict[str, Any]:
        try:
            card = await s.clients.card(session.business_id, session.client_id, session.card_id)
        except NotFound:  # deleted since: the page's "Pay" names no card
            return {"card": None}
        return {"card": card_out(card)}

    async def hangup(self, frame: ClientFrame) -> None:
        async with self.pages.unit_of_work(self.business_id) as s:
            session = await s.live.visit_session(self.visit_id, frame.session)
            await s.metering.record(self.business_id, session.id, "hangup", party="client")
        await self.relay.announce(self.business_id, session.id)

    async def leave(self, frame: Frame) -> None:
        async with self.pages.unit_of_work(self.business_id) as s:
            visit = await s.live.leave(await s.live.page_visit(self.visit_id))
            view = await visit_view(s, visit)
        self.send({"type": "visit", "visit": view})
        await self.relay.route(visit.room_id, queue_changed=True)

    async def mark(self, kind: str, at: float) -> None:
        async with self.pages.unit_of_work() as s:
            visit = await s.live.lock_visit(self.visit_id)
        if visit is not None and visit.session_id:
            await self.presence([visit.session_id], kind, "client", at)


def card_out(card: Card) -> dict[str, str]:
    """A card as the client's page names it ("Visa •••• 4242")."""
    return {"id": card.id, "brand": card.brand, "last4": card.last4}


ClientPage.handlers = {"ping": handler(Ping, Page.ping),
                       "message": handler(ClientMessage, ClientPage.message),
                       "hangup": handler(ClientFrame, ClientPage.hangup),
                       "leave": handler(Frame, ClientPage.leave)}  # fmt: skip


# ---------------------------------------------------------------- the agent console


class AgentPage(Page):
    __slots__ = ("caller",)
    role = "agent"

    def __init__(self, socket: PageSocket, pages: Pages, headers: Mapping[str, str]) -> None:
        super().__init__(socket, pages, headers)
        self.caller: Caller | None = None

    @property
    def user_id(self) -> str:
        assert self.caller is not None and self.caller.user is not None
        return self.caller.user.id

    async def _business(self) -> str:
        assert self.caller is not None
        return self.caller.business_id

    def _origin_ok(self) -> bool:
        """A page of another site may not open the console's socket with its cookie (the
        handshake's own check, as the pages' forms check their origin)."""
        origin = self.header("origin")
        if origin is None:
            return True  # not a browser
        allowed = {urlsplit(self.pages.base_url).netloc, self.header("host")}
        return urlsplit(origin).netloc in allowed

    async def hello(self, frame: Hello) -> None:
        if not self._origin_ok():
            raise Forbidden("This console belongs to another site.", code="origin_forbidden")
        async with self.pages.unit_of_work() as s:
            cookies = cookie_parser(self.header("cookie") or "")
            caller = await s.accounts.session_caller(cookies.get(COOKIE))
            user = check_agent(caller)
            self.caller = caller
            availability = await s.live.availability(caller.business_id, user.id)
            sessions = await s.live.console_sessions(caller.business_id, user.id)
            queues = await self._queues(s)
        conn = await self.open(agent_key(user.id))
        await self.registry.listen(conn, agent_key(user.id), self.watcher("assigned"))
        timings = self.pages.timings
        self.send({"type": "welcome", "agent": {"id": user.id, "name": user.name or user.email},
                   "availability": availability, "queues": queues,
                   "heartbeat": timings.heartbeat,
                   "offline_after": timings.offline_after})  # fmt: skip
        for session_id in sessions.follow:
            await self.follow(session_id)
        await self.presence(sessions.live, "online", "agent", self.registry.now())
        # Clients waiting in the agent's rooms may get the agent now (a client who joins a
        # queue later is routed by their own hello, or by the worker's next round).
        await self.relay.route_agent(user.id)

    async def _queues(self, s: ChatUnit) -> dict[str, int]:
        rooms = await s.live.rooms_of_agent(self.user_id)
        return {room: len(await s.live.queue(room)) for room in rooms}

    async def about(self, s: ChatUnit, session: ChatSession) -> dict[str, Any]:
        visit = await s.live.visit_of_session(session.id)
        client = await s.clients.get(session.business_id, session.client_id)
        name = visit.name if visit and visit.name else client.name
        return {"client": {"name": name, "email": client.email},
                "question": visit.question if visit else None}  # fmt: skip

    async def _own(self, s: ChatUnit, session_id: str) -> ChatSession:
        return await s.live.agent_session(await self._business(), self.user_id, session_id)

    async def availability(self, frame: AvailabilityFrame) -> None:
        status = frame.status if isinstance(frame.status, str) else ""
        async with self.pages.unit_of_work() as s:
            done = await s.live.set_availability(await self._business(), self.user_id, status)
        await self.relay.availability_changed(self.user_id, done)

    async def message(self, frame: AgentMessage) -> None:
        async with self.pages.unit_of_work(await self._business()) as s:
            said, _ = await s.live.say(await self._own(s, frame.session), "agent", frame.text)
        await self.relay.say(said)

    async def _record(self, frame: SessionFrame, kind: str) -> None:
        biz = await self._business()
        async with self.pages.unit_of_work(biz) as s:
            session = await self._own(s, frame.session)
            await s.metering.record(biz, session.id, kind, party="agent")
        await self.relay.announce(biz, session.id)

    async def meter(self, frame: MeterAction) -> None:
        await self._record(frame, frame.action)

    async def hangup(self, frame: SessionFrame) -> None:
        await self._record(frame, "hangup")

    async def abandon(self, frame: SessionFrame) -> None:
        assert self.caller is not None
        async with self.pages.unit_of_work(self.caller.business_id) as s:
            session = await self._own(s, frame.session)
            await s.metering.abandon(self.caller.business, session.id)
        await self.relay.announce(self.caller.business_id, session.id)

    async def payment_request(self, frame: PaymentRequestMessage) -> None:
        assert self.caller is not None
        async with self.pages.unit_of_work(self.caller.business_id) as s:
            session = await self._own(s, frame.session)
            request = await s.chat.create_request(
                self.caller.business, room_id=session.room_id, agent_id=self.user_id,
                client_id=session.client_id, category=frame.category,
                items=[i.model_dump() for i in frame.items], total=frame.total,
                session_id=session.id)  # fmt: skip
        await self.relay.request_changed(request)

    async def service(self, frame: ServiceMark) -> None:
        biz = await self._business()
        async with self.pages.unit_of_work(biz) as s:
            request = await s.chat.mark_service(biz, frame.request, frame.what,
                                                agent_id=self.user_id)  # fmt: skip
        await self.relay.request_changed(request)

    async def cancel_request(self, frame: RequestFrame) -> None:
        biz = await self._business()
        async with self.pages.unit_of_work(biz) as s:
            request = await s.chat.cancel_request(biz, frame.request, agent_id=self.user_id)
        await self.relay.request_changed(request)

    async def mark(self, kind: str, at: float) -> None:
        async with self.pages.unit_of_work() as s:
            sessions = await s.live.console_sessions(await self._business(), self.user_id)
        await self.presence(sessions.live, kind, "agent", at)


AgentPage.handlers = {
    "ping": handler(Ping, Page.ping),
    "availability": handler(AvailabilityFrame, AgentPage.availability),
    "message": handler(AgentMessage, AgentPage.message),
    "meter": handler(MeterAction, AgentPage.meter),
    "hangup": handler(SessionFrame, AgentPage.hangup),
    "abandon": handler(SessionFrame, AgentPage.abandon),
    "payment_request": handler(PaymentRequestMessage, AgentPage.payment_request),
    "service": handler(ServiceMark, AgentPage.service),
    "cancel_request": handler(RequestFrame, AgentPage.cancel_request),
}


def routes(pages: Pages) -> Routes:
    """The pages' sockets, for ``realtime.websocket.PageSocket`` (the app's lifespan
    state). A frame a little over the message limit gets the protocol's own error; far
    over, the socket is closed. A page sending frames faster than its budget (pings
    included) is closed with 1008; chat messages have a tighter limit of their own
    (``LiveService.say``), whose refusals are errors (``rate_limited``)."""
    return Routes({"/ws/client": ClientPage.factory(pages), "/ws/agent": AgentPage.factory(pages)},
                  max_size=4 * pages.timings.max_message_bytes,
                  frames=(pages.frames.count, pages.frames.seconds),
                  now=pages.registry.now)  # fmt: skip


async def on_stale(conn: Connection) -> None:
    """A page silent for the offline window: its party is offline since last heard."""
    page = conn.page
    if isinstance(page, Page):
        await page.gone(conn.last_seen)
