"""The jobs port on the suite's database: in this process on SQLite, procrastinate's queue on
PostgreSQL. A job exists once its transaction commits and never if it rolls back; jobs are
shared by several workers, each run once; a periodic job runs once per period whatever the
number of workers."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from croniter import croniter
from sqlalchemy import text

from fareroom.bootstrap import Context, jobs_for
from fareroom.config import Settings
from fareroom.jobs import Jobs, Periodic
from fareroom.jobs.queue import cron_every
from fareroom.kit.db import transaction
from tests.conftest import is_postgres


def _jobs(settings: Settings) -> Jobs:
    """Jobs of their own queue, so that no other test's jobs are in it."""
    return jobs_for(settings.model_copy(update={"jobs_queue": f"t-{uuid.uuid4().hex[:12]}"}))


async def test_a_job_exists_once_its_transaction_commits_and_never_if_it_rolls_back(
    ctx: Context, settings: Settings
) -> None:
    jobs = _jobs(settings)
    seen: list[int] = []

    async def record(n: int) -> None:
        seen.append(n)

    async with transaction(ctx.sessions) as session:
        await session.execute(text("SELECT 1"))
        await jobs.defer(session, "record", [{"n": 1}, {"n": 2}])
    with pytest.raises(RuntimeError):
        async with transaction(ctx.sessions) as session:
            await jobs.defer(session, "record", [{"n": 3}])
            raise RuntimeError("rolled back")
    assert await jobs.drain({"record": record}) == 2
    assert sorted(seen) == [1, 2]
    assert await jobs.drain({"record": record}) == 0  # each ran once


async def test_a_job_can_defer_more_and_drain_runs_those_too(
    ctx: Context, settings: Settings
) -> None:
    jobs = _jobs(settings)
    seen: list[int] = []

    async def count_down(n: int) -> None:
        seen.append(n)
        if n:
            async with transaction(ctx.sessions) as session:
                await jobs.defer(session, "count_down", [{"n": n - 1}])

    async with transaction(ctx.sessions) as session:
        await jobs.defer(session, "count_down", [{"n": 3}])
    assert await jobs.drain({"count_down": count_down}) == 4
    assert seen == [3, 2, 1, 0]


async def test_running_workers_share_the_jobs_and_run_each_once(
    ctx: Context, settings: Settings
) -> None:
    """Three workers on one queue (on SQLite, one process's: they share its memory)."""
    jobs = _jobs(settings)
    ran: list[tuple[int, int]] = []
    all_ran = asyncio.Event()

    def worker_task(worker: int) -> Any:
        async def take(n: int) -> None:
            await asyncio.sleep(0.01)
            ran.append((worker, n))
            if len(ran) >= 60:
                all_ran.set()

        return take

    stop = asyncio.Event()
    workers = [asyncio.create_task(jobs.run({"take": worker_task(w)}, (), stop)) for w in range(3)]
    async with transaction(ctx.sessions) as session:
        await jobs.defer(session, "take", [{"n": n} for n in range(60)])
    await asyncio.wait_for(all_ran.wait(), timeout=60)
    await asyncio.sleep(0.3)  # a job run twice would show now
    stop.set()
    await asyncio.gather(*workers)
    assert sorted(n for _, n in ran) == list(range(60))
    if is_postgres(settings.database_url):
        assert len({w for w, _ in ran}) > 1  # spread, not all in one worker


async def test_a_periodic_job_runs_once_per_period_however_many_workers(settings: Settings) -> None:
    jobs = _jobs(settings)
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(int(time.time()))

    stop = asyncio.Event()
    workers = 2 if is_postgres(settings.database_url) else 1  # SQLite: one process's worker
    running = [asyncio.create_task(jobs.run({}, [Periodic("tick", 1, tick)], stop))
               for _ in range(workers)]  # fmt: skip
    await asyncio.sleep(4.2)
    stop.set()
    await asyncio.gather(*running)
    # One run per second's tick: a tick run late may share its second with the next one,
    # but two workers running each tick would make about twice as many.
    assert 2 <= len(ticks) <= 5, ticks


def test_a_period_becomes_a_cron_whose_ticks_are_that_far_apart() -> None:
    start = datetime(2026, 12, 4, 3, 41, 7, tzinfo=UTC)
    for seconds, gaps in ((0.4, {1}), (2, {2}), (10, {10}), (30, {30}), (120, {120})):
        ticks = croniter(cron_every(seconds), start)
        times = [ticks.get_next(datetime) for _ in range(6)]
        assert {
            int((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False)
        } == gaps


async def test_periodic_jobs_of_one_lock_never_run_at_once(settings: Settings) -> None:
    jobs = _jobs(settings)
    spans: list[tuple[float, float]] = []

    def job() -> Any:
        async def run() -> None:
            start = time.monotonic()
            await asyncio.sleep(0.3)
            spans.append((start, time.monotonic()))

        return run

    periodic = [Periodic("a", 1, job(), lock="one"), Periodic("b", 1, job(), lock="one")]
    stop = asyncio.Event()
    workers = 2 if is_postgres(settings.database_url) else 1
    running = [asyncio.create_task(jobs.run({}, periodic, stop)) for _ in range(workers)]
    await asyncio.sleep(4.2)
    stop.set()
    await asyncio.gather(*running)
    spans.sort()
    assert len(spans) >= 4, spans  # both ran, several times
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
