"""Rate limits: how many times something may happen per key in any window of time.

A ``RateLimiter`` counts events per key in a **sliding window**: ``hit`` counts one more
event if fewer than ``limit`` were counted in the last ``window`` seconds, and otherwise
refuses it (a refused event is not counted, so a key that stops is free again one window
after its first counted event, not one window after its last attempt). ``peek`` asks
without counting, ``clear`` forgets a key. Every refusal says when one more event would be
allowed (``retry_after``), which becomes the HTTP ``Retry-After``.

Two adapters, picked by the composition root:

- ``InMemoryRateLimiter``: this process's memory, timed by the injected ``Clock`` (tests on
  the frozen clock advance it instead of sleeping). Each key keeps at most ``limit``
  timestamps; keys whose window has passed are swept now and then, so memory is bounded
  by what is in the windows.
- ``RedisRateLimiter``: a sorted set per key in Redis, updated by one Lua script (atomic),
  so several ``fareroom serve`` processes share the counts. Also timed by the ``Clock``.
  If Redis does not answer, the event is allowed and the failure logged: a limit is a
  guard against floods, and it must not turn Redis trouble into refusing everyone.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fareroom.kit.clock import Clock
from fareroom.kit.errors import FareroomError

log = logging.getLogger("fareroom.limits")


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events in any ``seconds``; written ``"count/seconds"`` in settings."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, value: object) -> Limit:
        if isinstance(value, Limit):
            return value
        count, slash, seconds = str(value).strip().partition("/")
        try:
            limit = cls(int(count), float(seconds)) if slash else None
        except ValueError:
            limit = None
        if limit is None or limit.count < 1 or not 0 < limit.seconds <= 86_400:
            raise ValueError(f"a limit is written 'count/seconds', e.g. '5/900', not {value!r}")
        return limit

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until one more event would be allowed

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for ``Retry-After`` (rounded up, at least 1)."""
        return max(1, math.ceil(self.retry_after))


class RateLimited(FareroomError):
    """Too many attempts; ``retry_after`` whole seconds until the next may succeed."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        """Count one event for ``key`` if fewer than ``limit`` were counted in the last
        ``window`` seconds; otherwise count nothing and refuse."""
        ...

    async def peek(self, key: str, *, limit: int, window: float) -> Decision:
        """Whether one more event would be allowed now; counts nothing."""
        ...

    async def clear(self, key: str) -> None:
        """Forget every event counted for ``key``."""
        ...

    async def close(self) -> None: ...


async def check_all(limiter: RateLimiter, limits: Sequence[tuple[str, Limit]], what: str,
                    *, count: bool = True) -> None:  # fmt: skip
    """Raise ``RateLimited`` (``what`` and when to try again) if any ``(key, limit)`` is
    full; otherwise count one event for each (unless ``count`` is False). All are asked
    before any is counted, so a refusal by one counts nothing against the others."""
    decisions = [await limiter.peek(key, limit=lim.count, window=lim.seconds)
                 for key, lim in limits]  # fmt: skip
    if count and all(d.allowed for d in decisions):
        decisions = [await limiter.hit(key, limit=lim.count, window=lim.seconds)
                     for key, lim in limits]  # fmt: skip
    refused = [d for d in decisions if not d.allowed]
    if refused:
        wait = max(d.retry_after_seconds for d in refused)
        raise RateLimited(f"{what} Please try again in {in_words(wait)}.", retry_after=wait)


def in_words(seconds: int) -> str:
    """``90`` → "2 minutes", ``30`` → "30 seconds" (rounded up, as a person reads it)."""
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _refusal(oldest: float, window: float, now: float) -> Decision:
    return Decision(False, max(0.0, oldest + window - now))


class InMemoryRateLimiter:
    """Sliding windows in this process's memory, on the injected clock."""

    SWEEP_EVERY = 4096  # hits between sweeps of keys whose window has passed

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._events: dict[str, tuple[float, deque[float]]] = {}  # key → (window, times)
        self._hits = 0

    def _recent(self, key: str, window: float, now: float) -> deque[float]:
        entry = self._events.get(key)
        times = entry[1] if entry is not None else deque()
        while times and times[0] <= now - window:
            times.popleft()
        return times

    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        now = self._clock.now().timestamp()
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._sweep(now)
        times = self._recent(key, window, now)
        if len(times) >= limit:
            return _refusal(times[len(times) - limit], window, now)
        times.append(now)
        self._events[key] = (window, times)
        return Decision(True)

    async def peek(self, key: str, *, limit: int, window: float) -> Decision:
        now = self._clock.now().timestamp()
        times = self._recent(key, window, now)
        if len(times) >= limit:
            return _refusal(times[len(times) - limit], window, now)
        return Decision(True)

    async def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _sweep(self, now: float) -> None:
        gone = [k for k, (window, times) in self._events.items()
                if not times or times[-1] <= now - window]  # fmt: skip
        for key in gone:
            del self._events[key]

    async def close(self) -> None:
        return None


# KEYS[1] the key; ARGV: now, window, limit, "1" to count (hit) or "0" (peek), a member.
# Returns {allowed (1|0), seconds until one more is allowed (text: Lua numbers come back
# from Redis as integers)}.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  if ARGV[4] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  end
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


class RedisRateLimiter:
    """Sliding windows in Redis (one sorted set per key), shared by every process."""

    def __init__(self, url: str, clock: Clock, *, prefix: str = "fareroom:limit:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._clock = clock
        self._prefix = prefix

    async def _run(self, key: str, limit: int, window: float, count: bool) -> Decision:
        now = self._clock.now().timestamp()
        member = f"{now}:{secrets.token_hex(6)}"
        try:
            args: list[str | float] = [now, window, limit, int(count), member]
            allowed, wait = await self._script(keys=[self._prefix + key], args=args)
        except Exception:
            log.exception("rate limit %s not checked: Redis did not answer", key)
            return Decision(True)
        return Decision(True) if int(allowed) else Decision(False, float(wait))

    async def hit(self, key: str, *, limit: int, window: float) -> Decision:
        return await self._run(key, limit, window, True)

    async def peek(self, key: str, *, limit: int, window: float) -> Decision:
        return await self._run(key, limit, window, False)

    async def clear(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except Exception:
            log.exception("rate limit %s not cleared: Redis did not answer", key)

    async def close(self) -> None:
        await self._redis.aclose()
