"""The rate limiter port: sliding windows on the frozen clock, in memory and in Redis (the
same behaviour from both adapters; Redis's tests are skipped when it does not answer)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from fareroom.kit.clock import FrozenClock
from fareroom.kit.ratelimit import (
    InMemoryRateLimiter,
    Limit,
    RateLimited,
    RateLimiter,
    RedisRateLimiter,
    check_all,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_answers() -> bool:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, frozen: FrozenClock
                  ) -> AsyncIterator[RateLimiter]:  # fmt: skip
    if request.param == "memory":
        yield InMemoryRateLimiter(frozen)
        return
    if not await _redis_answers():
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    redis_limiter = RedisRateLimiter(REDIS_URL, frozen,
                                     prefix=f"fareroom-test:{secrets.token_hex(6)}:")  # fmt: skip
    yield redis_limiter
    await redis_limiter.close()


async def test_a_key_is_allowed_up_to_its_limit_then_refused_until_the_window_has_passed(
    limiter: RateLimiter, frozen: FrozenClock
) -> None:
    for _ in range(3):
        assert (await limiter.hit("k", limit=3, window=60)).allowed
    refused = await limiter.hit("k", limit=3, window=60)
    assert not refused.allowed and refused.retry_after == pytest.approx(60)
    frozen.advance(seconds=59)
    assert not (await limiter.hit("k", limit=3, window=60)).allowed
    frozen.advance(seconds=1)
    assert (await limiter.hit("k", limit=3, window=60)).allowed


async def test_the_window_slides_so_retry_after_counts_from_the_oldest_event_in_it(
    limiter: RateLimiter, frozen: FrozenClock
) -> None:
    await limiter.hit("k", limit=2, window=60)
    frozen.advance(seconds=40)
    await limiter.hit("k", limit=2, window=60)
    frozen.advance(seconds=10)
    assert (await limiter.hit("k", limit=2, window=60)).retry_after == pytest.approx(10)
    frozen.advance(seconds=10)  # the first event left the window, the second has not
    assert (await limiter.hit("k", limit=2, window=60)).allowed
    refused = await limiter.hit("k", limit=2, window=60)
    assert not refused.allowed and refused.retry_after == pytest.approx(40)


async def test_refused_events_are_not_counted(limiter: RateLimiter, frozen: FrozenClock) -> None:
    await limiter.hit("k", limit=1, window=10)
    for _ in range(5):
        frozen.advance(seconds=1)
        assert not (await limiter.hit("k", limit=1, window=10)).allowed
    frozen.advance(seconds=5)  # ten seconds after the one counted event
    assert (await limiter.hit("k", limit=1, window=10)).allowed


async def test_peek_counts_nothing_and_clear_forgets_a_key(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert (await limiter.peek("k", limit=1, window=10)).allowed
    await limiter.hit("k", limit=1, window=10)
    assert not (await limiter.peek("k", limit=1, window=10)).allowed
    await limiter.clear("k")
    assert (await limiter.hit("k", limit=1, window=10)).allowed


async def test_keys_are_counted_apart(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", limit=1, window=10)).allowed
    assert (await limiter.hit("b", limit=1, window=10)).allowed
    assert not (await limiter.hit("a", limit=1, window=10)).allowed


async def test_a_refusal_by_one_of_several_limits_counts_nothing_against_the_others(
    limiter: RateLimiter,
) -> None:
    wide, narrow = ("wide", Limit(10, 60)), ("narrow", Limit(1, 60))
    await check_all(limiter, [wide, narrow], "Too many.")
    with pytest.raises(RateLimited) as refused:
        await check_all(limiter, [wide, narrow], "Too many.")
    assert refused.value.retry_after == 60 and refused.value.status == 429
    assert refused.value.message == "Too many. Please try again in 1 minute."
    for _ in range(9):  # the wide limit counted one event only
        await check_all(limiter, [wide], "Too many.")
    with pytest.raises(RateLimited):
        await check_all(limiter, [wide], "Too many.")


async def test_memory_is_bounded_by_what_is_in_the_windows(frozen: FrozenClock) -> None:
    limiter = InMemoryRateLimiter(frozen)
    for n in range(InMemoryRateLimiter.SWEEP_EVERY - 1):
        await limiter.hit(f"address-{n}", limit=5, window=60)
    frozen.advance(seconds=61)
    await limiter.hit("one more", limit=5, window=60)  # the sweep's turn
    for n in range(0, InMemoryRateLimiter.SWEEP_EVERY, 97):  # all free again
        assert (await limiter.peek(f"address-{n}", limit=1, window=60)).allowed
    assert len(limiter._events) == 1


@pytest.mark.parametrize("text", ["5", "0/60", "5/0", "x/60", "5/100000", ""])
def test_a_limit_that_is_not_count_per_seconds_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="count/seconds"):
        Limit.parse(text)


def test_a_limit_is_written_count_per_seconds() -> None:
    assert Limit.parse(" 5/900 ") == Limit(5, 900) and str(Limit(5, 900)) == "5/900"
    assert Limit.parse("10/0.5") == Limit(10, 0.5)
