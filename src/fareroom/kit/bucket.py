"""Token buckets: at most ``rate`` requests per second on average, ``burst`` at once.

A payment run asks the gateway as fast as its rate limit allows and no faster (Stripe allows
about 25 requests/s in test mode and 100/s live, and answers 429 above): each request first
takes a token. Tokens come back at ``rate`` per second up to ``burst``.

Two adapters, picked by the composition root:

- ``LocalBucket``: this process's (SQLite: every job runs in it). Timed by the monotonic
  clock: a rate is real time, not the business's (frozen) clock.
- ``SharedBucket``: one row of ``token_buckets`` in PostgreSQL, shared by every worker
  process, taken by one ``UPDATE`` that refills and takes in the database's own time; a
  taker finding it empty sleeps for the time one token takes to come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class TokenBucket(Protocol):
    async def take(self) -> None:
        """Wait for a token and take it."""
        ...

    async def try_take(self) -> bool:
        """Take a token if there is one now (a server's limit: refuse above it)."""
        ...


class LocalBucket:
    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.burst
        self._at = time.monotonic()

    def _refilled(self) -> float:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    async def take(self) -> None:
        # as ``SharedBucket``: the token is taken now, and waited for if it is owed
        self._tokens = self._refilled() - 1
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)

    async def try_take(self) -> bool:
        if self._refilled() < 1:
            return False
        self._tokens -= 1
        return True


_NOW = "LEAST(:burst, tokens + EXTRACT(EPOCH FROM clock_timestamp() - at) * :rate)"
# A taker takes its token whatever is left, and waits until the tokens it owes have come
# back (the bucket below zero is the queue of those waiting): one statement a token, and
# takers served in the order they came, without polling.
_RESERVE = text(f"""
UPDATE token_buckets SET tokens = {_NOW} - :take, at = clock_timestamp()
 WHERE name = :name
RETURNING tokens
""")
_TRY = text(f"""
UPDATE token_buckets SET tokens = {_NOW} - 1, at = clock_timestamp()
 WHERE name = :name AND {_NOW} >= 1
RETURNING tokens
""")
_ENSURE = text("""
INSERT INTO token_buckets (name, tokens, at) VALUES (:name, :burst, clock_timestamp())
ON CONFLICT (name) DO NOTHING
""")


class SharedBucket:
    """``take`` reserves ``batch`` tokens at a time (one statement for them all) and hands
    them out in this process at the times they come due, so a worker asks the database once
    per few requests, and the requests stay spaced at the rate."""

    def __init__(self, engine: AsyncEngine, name: str, rate: float, *,
                 burst: float | None = None, batch: int | None = None) -> None:  # fmt: skip
        self._engine = engine
        self.name, self.rate = name, rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.batch = batch if batch is not None else max(1, min(10, int(rate / 20)))
        self._ready = False
        self._due: deque[float] = deque()  # when each reserved token may be used
        self._lock = asyncio.Lock()

    async def _update(self, stmt: Any, take: int = 1) -> float | None:
        params = {"name": self.name, "rate": self.rate, "burst": self.burst, "take": take}
        async with self._engine.begin() as conn:
            if not self._ready:
                await conn.execute(_ENSURE, params)
                self._ready = True
            return (await conn.execute(stmt, params)).scalar()

    async def take(self) -> None:
        async with self._lock:
            if not self._due:
                left = await self._update(_RESERVE, self.batch) or 0.0
                now = time.monotonic()
                # the i-th of the tokens taken is owed until the bucket has refilled to it
                self._due.extend(now + max(0.0, -(left + self.batch - i)) / self.rate
                                 for i in range(1, self.batch + 1))  # fmt: skip
            due = self._due.popleft()
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def try_take(self) -> bool:
        return await self._update(_TRY) is not None
