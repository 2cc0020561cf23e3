"""This process's WebSocket connections: what each listens to, when each was last heard.

A connection's party (a client's visit, an agent) has a presence key; every message the
page sends (a heartbeat at least every ``heartbeat`` seconds) marks it heard. Once a second
the registry

- hands the hub the times its connections were last heard (one write for all of them), so
  any process can tell who is connected, and
- finds connections silent for longer than ``offline_after``: their page vanished without
  closing (a laptop lid, a lost network). They are closed and reported with the time they
  were last heard, from which their party counts as offline.

Published text goes straight to the page's socket (``PageSocket.send_text``: the frame
is put in the transport's buffer; nothing waits). A page whose socket has more than
``BACKLOG`` bytes not taken by the kernel does not read: it is dropped (it reconnects and
gets a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fareroom.kit.clock import Clock
from fareroom.realtime.hub import Hub, Listener, dumps
from fareroom.realtime.websocket import BACKLOG, BEHIND

log = logging.getLogger("fareroom.realtime")
HEARTBEAT_MISSED = 4000  # close code: nothing heard for offline_after seconds
REPLACED = 4009  # another page took over the same visit or console


class Socket(Protocol):
    """What a connection needs of its page's socket (``realtime.websocket.PageSocket``)."""

    def send_text(self, text: str) -> None: ...
    def buffered(self) -> int: ...
    def close(self, code: int = 1000, reason: str = "") -> None: ...


class Connection:
    """One page's socket as the registry knows it. ``send`` is also its hub listener."""

    __slots__ = ("socket", "key", "last_seen", "topics", "closed", "stale", "replaced",
                 "page")  # fmt: skip

    def __init__(self, socket: Socket, key: str, now: float) -> None:
        self.socket = socket
        self.key = key  # presence key: visit:<id> or agent:<id>
        self.last_seen = now
        self.topics: dict[str, Listener] = {}
        self.closed = False
        self.stale = False  # closed for silence
        self.replaced = False  # a newer page of the same party took over
        self.page: Any = None  # the page's handler

    def send(self, text: str) -> None:
        if self.closed:
            return
        if self.socket.buffered() > BACKLOG:
            log.warning("dropping %s: its page does not read", self.key)
            self.close_soon(BEHIND, "too far behind")
            return
        self.socket.send_text(text)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(dumps(message))

    def close_soon(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.socket.close(code, reason)


class Registry:
    # Pages greeted at once. A reconnect storm (a server restart: every page at once) would
    # otherwise start thousands of hellos that interleave, each holding a database
    # connection while it waits for the loop, until the pool times out; admitted a few at a
    # time, each finishes quickly and the rest wait their turn without holding anything.
    GREETING = 8

    def __init__(self, hub: Hub, clock: Clock, *, offline_after: float) -> None:
        self.hub = hub
        self._clock = clock
        self.offline_after = offline_after
        self.greeting = asyncio.Semaphore(self.GREETING)
        self.connections: set[Connection] = set()
        self._by_key: dict[str, Connection] = {}
        self._dirty: set[Connection] = set()

    def now(self) -> float:
        return self._clock.now().timestamp()

    def open(self, socket: Socket, key: str) -> Connection:
        """Register a page's connection; a page already connected for the same party in
        this process is replaced (a reload whose old socket has not closed yet)."""
        conn = Connection(socket, key, self.now())
        old = self._by_key.get(key)
        if old is not None:
            old.replaced = True
            old.close_soon(REPLACED, "replaced by a newer page")
        self._by_key[key] = conn
        self.connections.add(conn)
        self._dirty.add(conn)
        return conn

    def current(self, key: str) -> Connection | None:
        """The party's page connected to this process now, if any."""
        return self._by_key.get(key)

    def heard(self, conn: Connection) -> None:
        conn.last_seen = self.now()
        self._dirty.add(conn)

    async def listen(self, conn: Connection, topic: str, listener: Listener | None = None
                     ) -> None:  # fmt: skip
        """Send the topic's messages to the page (through ``listener``, if given)."""
        if topic not in conn.topics:
            conn.topics[topic] = listener or conn.send
            await self.hub.subscribe(topic, conn.topics[topic])

    async def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._dirty.discard(conn)
        for topic, listener in conn.topics.items():
            await self.hub.unsubscribe(topic, listener)
        conn.closed = True
        if self._by_key.get(conn.key) is conn:
            del self._by_key[conn.key]

    async def superseded(self, conn: Connection) -> bool:
        """True if a newer page of the same party took over, here or (as the hub's
        presence says) in another process: then this one's going says nothing."""
        if conn.replaced:
            return True
        seen = (await self.hub.last_seen([conn.key])).get(conn.key)
        return seen is not None and seen > conn.last_seen

    async def flush_presence(self) -> None:
        dirty, self._dirty = self._dirty, set()
        await self.hub.touch({c.key: c.last_seen for c in dirty if not c.closed})

    def stale(self) -> list[Connection]:
        """Connections not heard from for longer than ``offline_after``."""
        limit = self.now() - self.offline_after
        return [c for c in self.connections if c.last_seen < limit and not c.closed]

    async def watch(self, stop: asyncio.Event, on_stale: Callable[[Connection], Awaitable[None]],
                    *, every: float = 1.0) -> None:  # fmt: skip
        """Until ``stop``: flush presence and close silent connections, every ``every`` s."""
        while not stop.is_set():
            try:
                await self.check(on_stale)
            except Exception:
                log.exception("presence check failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def check(self, on_stale: Callable[[Connection], Awaitable[None]]) -> int:
        await self.flush_presence()
        stale = self.stale()
        for conn in stale:
            conn.stale = True
            conn.close_soon(HEARTBEAT_MISSED, "no heartbeat")
            if not await self.superseded(conn):
                await on_stale(conn)
        return len(stale)
