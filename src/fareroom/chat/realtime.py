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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
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
    Hello,
    MeterAction,
    PaymentRequestMessage,
    RequestFrame,
    ServiceMark,
    SessionFrame,
)
from fareroom.chat.service import check_agent
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.kit.errors import FareroomError, Forbidden, NotFound
from fareroom.kit.ratelimit import Limit
from fareroom.metering.schemas import session_out
from fareroom.metering.tasks import session_topic
from fareroom.models.client import Card
from fareroom.models.metering import ChatSession
from fareroom.realtime.connections import Connection, Registry
from fareroom.realtime.pages import Frame, PageTimings, Ping, SocketPage, handler, ref_of
from fareroom.realtime.websocket import Factory, PageSocket, Routes

log = logging.getLogger("fareroom.chat")


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class Pages:
    """What the pages' sockets need."""

    unit_of_work: UnitOfWork
    relay: Relay
    registry: Registry
    timings: PageTimings
    base_url: str  # this site: the console's socket accepts its pages' origin
    frames: Limit  # every frame of a socket (pings included)


class Page(SocketPage):
    """A chat page's socket (``realtime.pages.SocketPage``): its party's presence in its
    sessions, and the sessions it follows."""

    __slots__ = ("pages", "relay")
    hello_frame = Hello

    def __init__(self, socket: PageSocket, pages: Pages, headers: Mapping[str, str]) -> None:
        super().__init__(socket, pages.registry, pages.timings, headers)
        self.pages = pages
        self.relay = pages.relay

    @classmethod
    def factory(cls, pages: Pages) -> Callable[[PageSocket, Mapping[str, str]], Page]:
        return lambda socket, headers: cls(socket, pages, headers)

    def error_of(self, exc: Exception) -> FareroomError | None:
        return as_fareroom_error(exc) if isinstance(exc, GatewayError) else super().error_of(exc)

    async def ended(self, conn: Connection, shutdown: bool) -> None:
        """The page is gone, unless the server is only restarting (its presence then lapses
        by itself, should it not come back) or a newer page of the same party took over."""
        if shutdown or conn.stale or await self.registry.superseded(conn):
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

    async def _business(self) -> str:
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
        timings = self.timings
        return {"heartbeat": timings.heartbeat, "offline_after": timings.offline_after}

    async def message(self, frame: ClientMessage) -> None:
        ref = ref_of(frame.ref)
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
        timings = self.timings
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


def routes(
    pages: Pages,
    others: Mapping[str, Factory] | None = None,
    budgets: Mapping[str, tuple[int, float]] | None = None,
) -> Routes:
    """The pages' sockets (the chat's, and ``others``), for ``realtime.websocket.PageSocket``
    (the app's lifespan state). A frame a little over the message limit gets the protocol's
    own error; far over, the socket is closed. A page sending frames faster than its budget
    (pings included; a path of ``budgets`` has its own) is closed with 1008; chat messages
    have a tighter limit of their own (``LiveService.say``), whose refusals are errors
    (``rate_limited``)."""
    return Routes({"/ws/client": ClientPage.factory(pages), "/ws/agent": AgentPage.factory(pages),
                   **(others or {})},
                  max_size=4 * pages.timings.max_message_bytes,
                  frames=(pages.frames.count, pages.frames.seconds), budgets=budgets or {},
                  now=pages.registry.now)  # fmt: skip


async def on_stale(conn: Connection) -> None:
    """A page silent for the offline window: its party is offline since last heard."""
    page = conn.page
    if isinstance(page, Page):
        await page.gone(conn.last_seen)
