"""The hub: publishes a topic's messages to whoever listens (the chat pages, next).

``InMemoryHub`` serves one process (embedded mode and tests); a Redis hub serves several.
A message is a JSON-able dict; publishing to a topic nobody listens to costs a dict lookup.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Protocol


class Hub(Protocol):
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...


class InMemoryHub:
    def __init__(self, queue_size: int = 100) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._size = queue_size
        self.published = 0

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published += 1
        for queue in self._queues.get(topic, ()):
            if queue.full():  # a listener too slow to keep up misses the oldest message
                queue.get_nowait()
            queue.put_nowait(message)

    def subscribe(self, topic: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._size)
        self._queues[topic].add(queue)
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._queues[topic].discard(queue)
        if not self._queues[topic]:
            del self._queues[topic]
