"""The hub: a topic's messages to whoever listens, and who was seen when (presence).

Topics are ``session:<id>`` (both parties of a chat), ``visit:<id>`` (a client's page),
``agent:<id>`` (an agent's consoles). A message is serialised to JSON once, when published;
listeners get the text, which they send on as it is.

- ``InMemoryHub`` serves one process (the embedded default and the tests).
- ``RedisHub`` serves any number of processes: publishing goes through Redis pub/sub, and
  each process subscribes to a topic while one of its connections listens to it. Presence
  (the last time each connection's party was heard from) is a Redis hash, so any process
  can tell whether a party is connected to another one, and a process that died leaves
  times that go stale instead of parties that stay online.

A listener is a plain function: it must not block (it puts the text in its page's socket buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson

log = logging.getLogger("fareroom.realtime")
Listener = Callable[[str], None]


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message, default=str).decode()


class Hub(Protocol):
    started_at: float  # unix time: presence unknown to the hub counts as seen then

    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...
    async def publish_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> int: ...
    async def subscribe(self, topic: str, listener: Listener) -> None: ...
    async def unsubscribe(self, topic: str, listener: Listener) -> None: ...
    async def touch(self, seen: dict[str, float]) -> None: ...
    async def last_seen(self, keys: Sequence[str]) -> dict[str, float]: ...
    async def forget(self, keys: Sequence[str]) -> None: ...
    async def close(self) -> None: ...


class Fanout:
    """This process's listeners per topic."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def add(self, topic: str, listener: Listener) -> bool:
        """Add a listener; True if it is the topic's first."""
        found = self._listeners.setdefault(topic, [])
        found.append(listener)
        return len(found) == 1

    def remove(self, topic: str, listener: Listener) -> bool:
        """Remove a listener; True if the topic has none left."""
        found = self._listeners.get(topic)
        if not found:
            return False
        with contextlib.suppress(ValueError):
            found.remove(listener)
        if found:
            return False
        del self._listeners[topic]
        return True

    def deliver(self, topic: str, text: str) -> int:
        found = self._listeners.get(topic)
        if not found:
            return 0
        for listener in tuple(found):
            try:
                listener(text)
            except Exception:  # one broken connection must not stop the others
                log.exception("a listener of %s failed", topic)
        return len(found)

    def __len__(self) -> int:
        return len(self._listeners)


class InMemoryHub:
    def __init__(self) -> None:
        self.started_at = time.time()
        self._fanout = Fanout()
        self._seen: dict[str, float] = {}
        self.published = 0

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published += 1
        self._fanout.deliver(topic, dumps(message))

    async def publish_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> int:
        n = 0
        for topic, message in messages:
            self._fanout.deliver(topic, dumps(message))
            n += 1
        self.published += n
        return n

    async def subscribe(self, topic: str, listener: Listener) -> None:
        self._fanout.add(topic, listener)

    async def unsubscribe(self, topic: str, listener: Listener) -> None:
        self._fanout.remove(topic, listener)

    async def touch(self, seen: dict[str, float]) -> None:
        self._seen.update(seen)

    async def last_seen(self, keys: Sequence[str]) -> dict[str, float]:
        return {k: self._seen[k] for k in keys if k in self._seen}

    async def forget(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._seen.pop(key, None)

    async def close(self) -> None:
        return None


class RedisHub:
    """Pub/sub and presence through Redis; every name is prefixed (one Redis may serve
    several installations or test runs)."""

    def __init__(self, url: str, *, prefix: str = "fareroom:") -> None:
        import redis.asyncio as redis

        self.started_at = time.time()
        self._redis = redis.from_url(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._prefix = prefix
        self._presence = f"{prefix}presence"
        self._fanout = Fanout()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.published = 0

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published += 1
        await self._redis.publish(self._prefix + topic, dumps(message))

    async def publish_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> int:
        n = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic, message in messages:
                pipe.publish(self._prefix + topic, dumps(message))
                n += 1
                if n % 1000 == 0:
                    await pipe.execute()
            await pipe.execute()
        self.published += n
        return n

    async def subscribe(self, topic: str, listener: Listener) -> None:
        if self._fanout.add(topic, listener):
            async with self._lock:
                await self._pubsub.subscribe(self._prefix + topic)
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read())

    async def unsubscribe(self, topic: str, listener: Listener) -> None:
        if self._fanout.remove(topic, listener):
            async with self._lock:
                await self._pubsub.unsubscribe(self._prefix + topic)

    async def _read(self) -> None:
        skip = len(self._prefix)
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading from Redis failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if msg is None or msg.get("type") != "message":
                continue
            channel, data = msg["channel"], msg["data"]
            self._fanout.deliver(channel.decode()[skip:], data.decode())

    async def touch(self, seen: dict[str, float]) -> None:
        if seen:
            await self._redis.hset(self._presence, mapping=seen)  # type: ignore[arg-type]

    async def last_seen(self, keys: Sequence[str]) -> dict[str, float]:
        if not keys:
            return {}
        values = await self._redis.hmget(self._presence, list(keys))
        return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def forget(self, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.hdel(self._presence, *keys)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._redis.aclose()
