"""Fareroom's WebSocket server (RFC 6455) for the pages' sockets, inside uvicorn.

uvicorn serves HTTP and hands each upgrade request to the class its ``ws`` option names;
``fareroom serve`` (and the tests' live server) name ``PageSocket`` (``UVICORN_WS``). It
answers the handshake for the paths in the app's socket table (``Routes``, put in the
lifespan state by the app) and gives every message straight to the path's handler; there
is no ASGI between the socket and the page. Why: the pages' sockets are the one part of
Fareroom that runs at tens of thousands per process, where every send and every heartbeat
counts. Through uvicorn's own WebSocket protocols and Starlette, a connection cost ~40 KiB
(a task and its coroutine chain, queues, the protocol library's state, Starlette's
objects) and a send ~150 µs; here a connection is this object, its transport and the
page's handler, and a send is one ``transport.write``. bench/realtime.py measures both.

What it speaks: text and binary messages, fragmented or not; ping answered with pong;
the closing handshake (a close frame, then the TCP connection is closed once the other
side answers, or after ``CLOSE_TIMEOUT``). Frames from the page must be masked
(1002 otherwise), a message over ``max_size`` bytes closes the socket (1009), text that is
not UTF-8 too (1007). No extensions (the messages are small JSON; no compression) and no
subprotocols. A path not in the table gets 404, a request that is not a WebSocket
handshake 400.

Writes never wait: ``send_text`` puts the frame in the transport's buffer (the kernel takes
it at once unless the page reads slowly); ``buffered`` tells a publisher how far behind
a page is, so it can drop a page that does not read. A pong counts too: a page with more
than ``BACKLOG`` bytes unread that pings is closed (1013), not answered, so pings from a
page that never reads cannot grow the server's memory.

Bounds: every frame a page sends, control frames included, is paid from a budget of
``Routes.frames`` (count, seconds): ``count`` frames at once, refilled at ``count`` per
``seconds``; a page that spends it is closed with 1008 (policy violation).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

log = logging.getLogger("fareroom.realtime")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STATE_KEY = "fareroom.sockets"  # the Routes in the lifespan state
CLOSE_TIMEOUT = 5.0
UVICORN_WS = "fareroom.realtime.websocket:PageSocket"  # uvicorn.Config(ws=UVICORN_WS)

# opcodes
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PROTOCOL_ERROR, TOO_BIG, NOT_UTF8, GOING_AWAY, RESTARTING = 1002, 1009, 1007, 1001, 1012
POLICY, BEHIND = 1008, 1013
BACKLOG = 1 << 20  # bytes a page may leave unread before it is dropped


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
    now: Callable[[], float] = time.monotonic  # seconds, for the frame budget


def frame(opcode: int, payload: bytes) -> bytes:
    """A frame from the server (never masked, never fragmented)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(n, "little")


def _sendable(code: int) -> bool:
    """A close code that may be sent in a close frame (RFC 6455 §7.4)."""
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code < 5000


def close_payload(code: int, reason: str) -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:123]


def parse_request(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, path (no query) and headers (lower-case names; repeated ones joined)."""
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0] or rest
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return method, target.partition("?")[0], headers


def accept_key(headers: Mapping[str, str]) -> str | None:
    """The Sec-WebSocket-Accept for a valid handshake request, else None."""
    if "websocket" not in headers.get("upgrade", "").lower():
        return None
    if "upgrade" not in headers.get("connection", "").lower():
        return None
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except ValueError:
        return None
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


_framed: list[Any] = [None, b""]  # the text last sent, and its frame


class PageSocket(asyncio.Protocol):
    """One page's socket; uvicorn makes one per upgrade request."""

    __slots__ = ("_server", "_routes", "_transport", "_handler", "_rest", "_parts",
                 "_parts_size", "_parts_op", "_closing", "_timer", "_shutdown",
                 "_budget", "_budget_at", "max_size")  # fmt: skip

    def __init__(self, config: Any = None, server_state: Any = None,
                 app_state: dict[str, Any] | None = None, **_: Any) -> None:  # fmt: skip
        self._server = server_state  # uvicorn's: its connections are shut down on exit
        self._routes: Routes | None = (app_state or {}).get(STATE_KEY)
        self._transport: asyncio.Transport | None = None
        self._handler: Handler | None = None
        self._rest = b""  # bytes of a frame not yet whole
        self._parts: list[bytes] | None = None  # a fragmented message so far
        self._parts_size = 0
        self._parts_op = 0
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._shutdown = False
        self._budget = (
            float(self._routes.frames[0]) if self._routes and self._routes.frames else 0.0
        )
        self._budget_at = self._routes.now() if self._routes else 0.0
        self.max_size = self._routes.max_size if self._routes else 1 << 20

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
        self._closing = True
        handler, self._handler = self._handler, None
        self._rest, self._parts = b"", None
        if handler is not None:
            try:
                handler.lost(self._shutdown)
            except Exception:
                log.exception("a socket's handler failed when it closed")

    def data_received(self, data: bytes) -> None:
        if self._rest:
            data = self._rest + data
            self._rest = b""
        if self._handler is None:
            if not self._closing:
                self._handshake(data)
            return
        try:
            self._frames(data)
        except Exception:
            log.exception("a socket's message failed")
            self.close(1011, "internal error")

    def eof_received(self) -> bool | None:
        self._closing = True  # nothing more is written
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
        if self._closing or self._transport is None:
            return
        if _framed[0] is not text:  # a published message goes to each of its listeners
            _framed[0], _framed[1] = text, frame(TEXT, text.encode())
        self._transport.write(_framed[1])

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (a page that does not read)."""
        return self._transport.get_write_buffer_size() if self._transport else 0

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection ends when the page answers."""
        if self._closing or self._transport is None:
            return
        self._closing = True
        self._transport.write(frame(CLOSE, close_payload(code, reason)))
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT,
                                                            self._transport.abort)  # fmt: skip

    # ------------------------------------------------------------ the wire

    def _handshake(self, data: bytes) -> None:
        head, found, rest = data.partition(b"\r\n\r\n")
        if not found:
            if len(data) > 65536:
                self._respond(431, "Request Header Fields Too Large", "headers too large")
            else:
                self._rest = data
            return
        method, path, headers = parse_request(head)
        routes = self._routes
        factory = routes.handlers.get(path) if routes else None
        if factory is None:
            self._respond(404, "Not Found", "no socket here")
            return
        accept = accept_key(headers)
        if method != "GET" or accept is None:
            self._respond(400, "Bad Request", "not a WebSocket handshake")
            return
        if headers.get("sec-websocket-version") != "13":
            self._respond(426, "Upgrade Required", "WebSocket version 13 only",
                          "Sec-WebSocket-Version: 13\r\n")  # fmt: skip
            return
        assert self._transport is not None
        self._transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        self._handler = factory(self, headers)
        if rest:
            self._frames(rest)

    def _respond(self, status: int, phrase: str, body: str, extra: str = "") -> None:
        assert self._transport is not None
        self._closing = True
        self._transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n{body}".encode()
        )
        self._transport.close()

    def _frames(self, data: bytes) -> None:
        """Read every whole frame in ``data``; keep the rest for the next read."""
        pos, end = 0, len(data)
        while end - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if b0 & 0x70 or not b1 & 0x80:
                self._fail(PROTOCOL_ERROR, "frames must be masked, with no extensions")
                return
            control = b0 & 0x0F >= CLOSE  # may come between a message's fragments
            if size > self.max_size or not control and self._parts_size + size > self.max_size:
                self._fail(TOO_BIG, "message too big")
                return
            start = pos + head + 4
            if end - start < size:
                break
            payload = unmask(data[start : start + size], data[pos + head : start])
            pos = start + size
            if not self._closing and not self._spend():  # the page's close answer is free
                self._fail(POLICY, "too many frames")
                return
            if not self._frame(b0 & 0x80, b0 & 0x0F, payload) or self._handler is None:
                return
        if pos < end:
            self._rest = data[pos:]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> bool:
        """Act on one frame; False when the socket is done reading."""
        if opcode >= CLOSE:
            if not fin or len(payload) > 125:
                return self._fail(PROTOCOL_ERROR, "bad control frame")
            if opcode == CLOSE:
                if not self._closing:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
                    self.close(code if _sendable(code) else 1000)
                assert self._transport is not None
                self._transport.close()
                return False
            if opcode == PING and not self._closing:
                if self.buffered() > BACKLOG:  # a pong is a write like any other
                    return self._fail(BEHIND, "too far behind")
                assert self._transport is not None
                self._transport.write(frame(PONG, payload))
            return True
        if opcode == CONTINUATION:
            if self._parts is None:
                return self._fail(PROTOCOL_ERROR, "continuation of nothing")
            self._parts.append(payload)
            self._parts_size += len(payload)
            if not fin:
                return True
            opcode, payload = self._parts_op, b"".join(self._parts)
            self._parts, self._parts_size = None, 0
        elif opcode not in (TEXT, BINARY) or self._parts is not None:
            return self._fail(PROTOCOL_ERROR, "unexpected frame")
        elif not fin:
            self._parts, self._parts_size, self._parts_op = [payload], len(payload), opcode
            return True
        if self._closing:
            return True  # the page had not read our close yet
        if opcode == BINARY:
            text = None
        else:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                return self._fail(NOT_UTF8, "text must be UTF-8")
        assert self._handler is not None
        self._handler.received(text)
        return True

    def _spend(self) -> bool:
        """Pay one frame from the page's budget; False when it is spent."""
        routes = self._routes
        if routes is None or routes.frames is None:
            return True
        count, seconds = routes.frames
        now = routes.now()
        refill = max(0.0, now - self._budget_at) * count / seconds  # a clock set back adds none
        self._budget, self._budget_at = min(float(count), self._budget + refill), now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    def _fail(self, code: int, reason: str) -> bool:
        self.close(code, reason)
        return False
