"""Fareroom's WebSocket server for the pages' sockets, inside uvicorn, with the protocol
(RFC 6455) done by the ``websockets`` package's sans-I/O ``ServerProtocol``.

uvicorn serves HTTP and hands each upgrade request to the class its ``ws`` option names;
``fareroom serve`` (and the tests' live server) name ``PageSocket`` (``UVICORN_WS``). It
feeds the bytes it reads to its ``ServerProtocol`` and writes what that gives back; it
answers the handshake for the paths in the app's socket table (``Routes``, put in the
lifespan state by the app) and gives every message straight to the path's handler; there
is no ASGI between the socket and the page, and no task per socket. Why: the pages'
sockets are the one part of Fareroom that runs at tens of thousands per process, where
every send and every heartbeat counts. Through uvicorn's own WebSocket protocols and
Starlette, a connection cost ~40 KiB (a task and its coroutine chain, queues, Starlette's
objects) and a send ~150 µs; here a connection is this object, its ``ServerProtocol``, its
transport and the page's handler, and a send is one ``transport.write``.
bench/realtime.py measures both.

The library does the handshake (400 for a request that is not a WebSocket handshake,
405 for another method than GET), the framing, the masking and reserved-bit checks (1002),
the size bound (1009 for a message over ``max_size`` bytes, fragments together), ping and
pong, and the closing handshake: a close frame, then the server half-closes the TCP
connection and closes it once the page has (or after ``CLOSE_TIMEOUT``); a close frame
with a code that may not be sent is a protocol error (1002). Here: a path not in the table
gets 404 and another version than 13 gets 426 with ``Sec-WebSocket-Version: 13`` (RFC 6455
§4.2.2; the library would answer 400); fragments are joined into one message, and text
that is not UTF-8 closes the socket (1007). No extensions (the messages are small JSON; no
compression) and no subprotocols.

Writes never wait: ``send_text`` puts the frame in the transport's buffer (the kernel takes
it at once unless the page reads slowly); ``buffered`` tells a publisher how far behind
a page is, so it can drop a page that does not read. A frame the server sends carries no
state of the connection (no extension, never masked), so the frame the library makes of a
published message is made once and written to each of its listeners. A pong is a write
too: a page with more than ``BACKLOG`` bytes unread that sends anything is closed (1013)
before its frames are read, so pings from a page that never reads cannot grow the
server's memory.

Memory: a socket at rest (open, between two frames, no fragmented message begun) holds no
protocol of its own. The library's protocol at that point holds nothing of its page's (it
waits for the first byte of a frame, as a fresh one does), and yet is ~1.7 KiB (its
attributes, a UUID for its logs, its reader and the parser's three generators): the
sockets at rest share one (``_idle``), which a socket takes when bytes come and gives back
when they leave it at rest. A socket mid-frame, mid-message or closing keeps its own.
After the handshake a socket starts at rest (its handshake's protocol, with the request
and the parser's state, is dropped): uvicorn hands over the request's head alone, so
nothing is left unread in it.

Bounds: every frame a page sends, control frames included, is paid from a budget of
``Routes.frames`` (count, seconds): ``count`` frames at once, refilled at ``count`` per
``seconds`` (a path may have its own, ``Routes.budgets``: a meeting's signalling is
burstier than a chat); a page that spends it is closed with 1008 (policy violation).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

log = logging.getLogger("fareroom.realtime")
STATE_KEY = "fareroom.sockets"  # the Routes in the lifespan state
CLOSE_TIMEOUT = 5.0
UVICORN_WS = "fareroom.realtime.websocket:PageSocket"  # uvicorn.Config(ws=UVICORN_WS)

NOT_UTF8, TOO_BIG, RESTARTING, POLICY, BEHIND = 1007, 1009, 1012, 1008, 1013
CONTROL = 125  # bytes of a control frame's payload, at most
BACKLOG = 1 << 20  # bytes a page may leave unread before it is dropped
OPEN, TEXT, BINARY, CONT, PING = State.OPEN, Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING


class Handler(Protocol):
    """What a path's handler is told: each message (``None``: a binary one) and the end
    (``shutdown``: the server is stopping, not the page)."""

    def received(self, text: str | None) -> None: ...
    def lost(self, shutdown: bool) -> None: ...


Factory = Callable[["PageSocket", Mapping[str, str]], Handler]


@dataclass(frozen=True)
class Routes:
    handlers: Mapping[str, Factory]  # path → a handler for each socket
    max_size: int  # bytes of one message, whole
    frames: tuple[int, float] | None = None  # (count, seconds) a page may send; None: any
    budgets: Mapping[str, tuple[int, float]] = field(default_factory=dict)  # a path's own
    now: Callable[[], float] = time.monotonic  # seconds, for the frame budget


def headers_of(request: Request) -> dict[str, str]:
    """The request's headers for a handler: lower-case names, repeated ones joined."""
    headers: dict[str, str] = {}
    for name, value in request.headers.raw_items():
        name = name.lower()
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return headers


_framed: list[Any] = [None, b""]  # the text last sent, and its frame
_idle: dict[int, ServerProtocol] = {}  # max_size → the protocol the sockets at rest share
_WAITING = StreamReader.at_eof.__code__  # where a parser waits for a frame's first byte


def at_rest(ws: ServerProtocol) -> bool:
    """Whether ``ws`` holds nothing of its connection's: open, no fragmented message begun,
    no close received, nothing read or to write, and its parser waiting for the first byte
    of a frame (in ``StreamReader.at_eof``, where a fresh one waits), not for the rest of a
    frame whose first bytes it has read (its reader's buffer is then empty too)."""
    if ws.state is not OPEN or ws.current_size is not None or ws.close_rcvd is not None:
        return False
    if ws.reader.buffer or ws.writes:
        return False
    parser: Any = ws.parser  # a generator, suspended where its innermost one yielded
    while parser.gi_yieldfrom is not None:
        parser = parser.gi_yieldfrom
    return parser.gi_code is _WAITING


class PageSocket(asyncio.Protocol):
    """One page's socket; uvicorn makes one per upgrade request."""

    __slots__ = ("_server", "_routes", "_transport", "_ws", "_pending", "_handler", "_parts",
                 "_parts_op", "_max_size", "_timer", "_shutdown", "_budget",
                 "_budget_at", "_frames")  # fmt: skip

    def __init__(self, config: Any = None, server_state: Any = None,
                 app_state: dict[str, Any] | None = None, **_: Any) -> None:  # fmt: skip
        self._server = server_state  # uvicorn's: its connections are shut down on exit
        routes: Routes | None = (app_state or {}).get(STATE_KEY)
        self._routes = routes
        self._transport: asyncio.Transport | None = None
        # The library counts a ping between a message's fragments against what is left of
        # the message's size; it is given a control frame's largest more, and the message
        # is held to ``max_size`` here.
        self._max_size = routes.max_size if routes else 1 << 20
        # None: at rest, open (the protocol is taken from ``_idle`` when bytes come)
        self._ws: ServerProtocol | None = ServerProtocol(max_size=self._max_size + CONTROL)
        self._pending: list[bytes] | None = None  # what the library gave, not yet written
        self._handler: Handler | None = None
        self._parts: list[bytes] | None = None  # a fragmented message so far
        self._parts_op = TEXT
        self._timer: asyncio.TimerHandle | None = None
        self._shutdown = False
        self._frames = routes.frames if routes else None
        self._budget = float(self._frames[0]) if self._frames else 0.0
        self._budget_at = routes.now() if routes else 0.0

    # ------------------------------------------------------------ asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # asyncio's or uvloop's
        if self._server is not None:
            self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._server is not None:
            self._server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None  # nothing more is written
        handler, self._handler, self._parts = self._handler, None, None
        if handler is not None:
            try:
                handler.lost(self._shutdown)
            except Exception:
                log.exception("a socket's handler failed when it closed")

    def data_received(self, data: bytes) -> None:
        ws = self._protocol()
        if ws.state is OPEN and self.buffered() > BACKLOG:  # a pong is a write like any other
            ws.fail(BEHIND, "too far behind")
        else:
            ws.receive_data(data)
            self._pending = ws.data_to_send() or None  # a pong for each ping read; any close
            try:
                self._events(ws)
            except Exception:
                log.exception("a socket's message failed")
                if ws.state is OPEN:
                    ws.fail(1011, "internal error")
        self._flush()
        own = self._ws  # None if the handshake was just answered
        if own is not None and self._handler is not None and at_rest(own):
            self._ws, _idle[self._max_size] = None, own

    def eof_received(self) -> bool | None:
        self._protocol().receive_eof()
        self._flush()
        return None  # close the transport

    def shutdown(self) -> None:
        """uvicorn is stopping: the page is told the server restarts (it reconnects)."""
        self._shutdown = True
        if self._handler is not None:
            self.close(RESTARTING, "server restarting")
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ the handler's side

    def send_text(self, text: str) -> None:
        ws = self._ws
        if (ws is not None and ws.state is not OPEN) or self._transport is None:
            return
        if _framed[0] is not text:  # a published message goes to each of its listeners
            _framed[0], _framed[1] = text, Frame(TEXT, text.encode()).serialize(mask=False)
        self._transport.write(_framed[1])

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (a page that does not read)."""
        return self._transport.get_write_buffer_size() if self._transport else 0

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection ends when the page answers."""
        if self._transport is None:
            return
        ws = self._protocol()
        if ws.state is OPEN:
            ws.send_close(code, reason.encode()[:123].decode(errors="ignore"))
            self._flush()

    def _protocol(self) -> ServerProtocol:
        """This socket's protocol; at rest, the shared one (or a new one), now its own."""
        if self._ws is None:
            size = self._max_size
            self._ws = _idle.pop(size, None) or ServerProtocol(state=OPEN, max_size=size + CONTROL)
        return self._ws

    # ------------------------------------------------------------ the wire

    def _flush(self) -> None:
        """Write what the protocol has to send; its end (``b""``) half-closes the TCP
        connection, which is aborted if the page does not close it in time."""
        transport, ws = self._transport, self._ws
        if transport is None or ws is None:
            return
        writes = ws.data_to_send()
        if self._pending:
            writes = self._pending + writes
        self._pending = None
        for data in writes:
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if self._timer is None and ws.close_expected():
            self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _events(self, ws: ServerProtocol) -> None:
        """Act on what the page sent. The library's pongs for its pings (one each, in
        order, ``_pending``) are each written as its ping comes, so that they keep their
        place among the answers to the messages around them."""
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(ws, event)
                return
            frame = cast(Frame, event)  # a server's other events are frames
            if ws.state is OPEN and not self._spend():  # the page's close answer is free
                ws.fail(POLICY, "too many frames")
                return
            opcode, data = frame.opcode, cast(bytes, frame.data)  # parsed frames hold bytes
            if opcode is PING and self._pending and self._transport is not None:
                self._transport.write(self._pending.pop(0))
                continue
            if opcode is CONT and self._parts is not None:  # the library checks the order
                self._parts.append(data)
                if not frame.fin:
                    continue
                opcode, data, self._parts = self._parts_op, b"".join(self._parts), None
            elif opcode is not TEXT and opcode is not BINARY:
                continue  # pong, close
            elif not frame.fin:
                self._parts, self._parts_op = [data], opcode
                continue
            if ws.state is not OPEN or self._handler is None:
                continue  # the page had not read our close yet
            if len(data) > self._max_size:
                ws.fail(TOO_BIG, "message too big")
                return
            if opcode is BINARY:
                self._handler.received(None)
                continue
            try:
                text = data.decode()
            except UnicodeDecodeError:
                ws.fail(NOT_UTF8, "text must be UTF-8")
                return
            self._handler.received(text)

    def _handshake(self, ws: ServerProtocol, request: Request) -> None:
        routes = self._routes
        path = request.path.partition("?")[0]
        factory = routes.handlers.get(path) if routes else None
        if routes is not None and path in routes.budgets:
            self._frames = routes.budgets[path]
            self._budget = float(self._frames[0])
        if factory is None:
            response = ws.reject(404, "no socket here")
        elif request.headers.get_all("Sec-WebSocket-Version") != ["13"]:
            response = ws.reject(426, "WebSocket version 13 only")
            response.headers["Sec-WebSocket-Version"] = "13"
        else:
            response = ws.accept(request)
        ws.send_response(response)
        self._flush()
        if response.status_code == 101:
            assert factory is not None
            self._ws = None  # at rest (the module's docstring: Memory)
            self._handler = factory(self, headers_of(request))

    def _spend(self) -> bool:
        """Pay one frame from the page's budget; False when it is spent."""
        routes, frames = self._routes, self._frames
        if routes is None or frames is None:
            return True
        count, seconds = frames
        now = routes.now()
        refill = max(0.0, now - self._budget_at) * count / seconds  # a clock set back adds none
        self._budget, self._budget_at = min(float(count), self._budget + refill), now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True
