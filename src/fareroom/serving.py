"""How ``fareroom serve`` runs uvicorn: its HTTP protocol with a deadline for each request's
head, the pages' WebSocket protocol (``realtime.websocket``) and the keep-alive timeout.

uvicorn closes a kept-alive connection that stays idle after a response
(``timeout_keep_alive``), but it has no deadline for a request's head: its keep-alive timer
starts only once a response is sent and any byte stops it, so a new connection that sends
nothing, or a client that sends its headers a byte every few seconds (slowloris), held its
connection, and a slot of the process, for as long as it liked. ``HeadTimeoutProtocol``
closes a connection whose request head (request line and headers) has not arrived whole
within ``FAREROOM_HTTP_HEAD_SECONDS``: counted from when the connection opened, and on a
kept-alive connection from the first byte of the next request. A head that had begun is
answered ``408 Request Timeout`` first, and then the connection is half-closed and what the
client still sends is read and dropped for ``LINGER_SECONDS`` before it is closed: closing a
socket with bytes unread makes the kernel reset the connection, and a reset may destroy the
408 in the client's buffer before it has read it.

The app puts that deadline in its lifespan state (``HEAD_SECONDS_KEY``), where uvicorn hands
it to each connection's protocol, as it does the pages' socket table.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fareroom.config import Settings
from fareroom.realtime.websocket import UVICORN_WS

HEAD_SECONDS_KEY = "fareroom.http_head_seconds"
HTTP_PROTOCOL = "fareroom.serving:HeadTimeoutProtocol"  # uvicorn.Config(http=HTTP_PROTOCOL)
LINGER_SECONDS = 2.0
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The protocols and timeouts ``fareroom serve`` (and the tests' live servers) give
    uvicorn."""
    return {"http": HTTP_PROTOCOL, "ws": UVICORN_WS,  # the pages' sockets are our own
            "timeout_keep_alive": settings.http_keep_alive_seconds}  # fmt: skip


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for every request's head."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:  # fmt: skip
        super().__init__(config, server_state, app_state, _loop)
        default = Settings.model_fields["http_head_seconds"].default
        self._head_seconds = float(app_state.get(HEAD_SECONDS_KEY, default))
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False
        self._timed_out = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._timed_out:  # after a 408, the rest of the head is dropped
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_timer is None:  # a kept-alive connection's next request
            self._arm_head()

    def on_headers_complete(self) -> None:
        self._disarm_head()
        self._head_begun = False
        super().on_headers_complete()

    def _arm_head(self) -> None:
        self._head_timer = self.loop.call_later(self._head_seconds, self._head_timed_out)

    def _disarm_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._head_begun:
            self.transport.close()
            return
        self._timed_out = True
        self.transport.write(TIMED_OUT)
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
