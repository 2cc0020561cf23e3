"""This process's WebSocket connections: what each listens to, when each was last heard.

A connection's party (a client's visit, an agent) has a presence key; every message the
page sends (a heartbeat at least every ``heartbeat`` seconds) marks it heard. Once a second
the registry

- hands the hub the times its connections were last heard (one write for all of them), so
  any process can tell who is connected, and
- finds connections silent for longer than ``offline_after``: their page vanished without
  closing (a laptop lid, a lost network). They are closed and reported with the time they
  were last heard, from which their party counts as offline.

Published text is queued on the connection and written by the process's one ``Outbox``
task, so a publisher never waits for a page. The ASGI sends of the server we run (uvicorn's
websockets protocol) do not wait: the frame goes to the socket's buffer. One task can
therefore write for every page, which costs no task switch per message and no task per page
(a per-page writer task cost both). A page that falls ``backlog`` messages behind is dropped
(it reconnects and gets a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from fareroom.kit.clock import Clock
from fareroom.realtime.hub import Hub, Listener, dumps

log = logging.getLogger("fareroom.realtime")
HEARTBEAT_MISSED = 4000  # close code: nothing heard for offline_after seconds
REPLACED = 4009  # another page took over the same visit or console


class Outbox:
    """Writes the queued messages of every connection that has some, from one task that
    runs while there is anything to write."""

    def __init__(self) -> None:
        self._pending: dict[Connection, None] = {}  # ordered: first queued, first written
        self._task: asyncio.Task[None] | None = None

    def ready(self, conn: Connection) -> None:
        self._pending[conn] = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                conn = next(iter(self._pending))
                del self._pending[conn]
                await conn.flush()
        finally:
            self._task = None


class Connection:
    """One page's WebSocket. ``send`` is also its hub listener."""

    __slots__ = ("ws", "key", "last_seen", "topics", "closed", "info", "_queue", "_outbox",
                 "_backlog")  # fmt: skip

    def __init__(self, ws: WebSocket, key: str, now: float, outbox: Outbox, *,
                 backlog: int = 256) -> None:  # fmt: skip
        self.ws = ws
        self.key = key  # presence key: visit:<id> or agent:<id>
        self.last_seen = now
        self.topics: dict[str, Listener] = {}
        self.closed = False
        self.info: dict[str, Any] = {}
        self._queue: deque[str] = deque()
        self._outbox = outbox
        self._backlog = backlog

    def send(self, text: str) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._backlog:
            log.warning("dropping %s: %d messages behind", self.key, len(self._queue))
            self.close_soon(1013, "too far behind")
            return
        self._queue.append(text)
        self._outbox.ready(self)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(dumps(message))

    async def flush(self) -> None:
        """Write what is queued (the Outbox calls this)."""
        try:
            while self._queue:
                await self.ws.send_text(self._queue.popleft())
        except Exception:  # the page is gone; the reader notices and cleans up
            self.closed = True

    def close_soon(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    def stop(self) -> None:
        self.closed = True
        self._queue.clear()


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
        self.outbox = Outbox()
        self.connections: set[Connection] = set()
        self._by_key: dict[str, Connection] = {}
        self._dirty: set[Connection] = set()

    def now(self) -> float:
        return self._clock.now().timestamp()

    def open(self, ws: WebSocket, key: str) -> Connection:
        """Register a page's connection; a page already connected for the same party in
        this process is replaced (a reload whose old socket has not closed yet)."""
        conn = Connection(ws, key, self.now(), self.outbox)
        old = self._by_key.get(key)
        if old is not None:
            old.info["replaced"] = True
            old.close_soon(REPLACED, "replaced by a newer page")
        self._by_key[key] = conn
        self.connections.add(conn)
        self._dirty.add(conn)
        return conn

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
        conn.stop()
        if self._by_key.get(conn.key) is conn:
            del self._by_key[conn.key]

    async def superseded(self, conn: Connection) -> bool:
        """True if a newer page of the same party took over, here or (as the hub's
        presence says) in another process: then this one's going says nothing."""
        if conn.info.get("replaced"):
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
            conn.info["stale"] = True
            conn.close_soon(HEARTBEAT_MISSED, "no heartbeat")
            if not await self.superseded(conn):
                await on_stale(conn)
        return len(stale)
