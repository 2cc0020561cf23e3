"""The worker: background jobs in one loop (``fareroom worker``, or inside ``fareroom serve``).

The worker is a composition edge, like ``bootstrap``: it is handed the whole ``Context`` and
reads its timings (``meter_tick_seconds``, ``offline_after_seconds``) and the mail settings
from it; the jobs it runs (``MeterJobs``, ``Relay``) are given values and read none.

Every round (``interval``): deliver the sandbox's events, end timed-out sessions (telling
their parties), take over stale collections, give waiting clients idle agents, tell those
waiting while no agent is online (releasing their holds after ``queue_nobody_seconds``),
send mail.
Every third of the offline window: record offline the chat parties whose pages nobody has
heard (their process died), take such meeting participants out of their meetings, and
give the seats of paid meetings' registrations never paid back.
Every ``meter_tick_seconds``: publish the live meters and collect split bills. On start:
rebuild every open session's meter from its events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from fareroom.kit.db import transaction
from fareroom.mail.outbox import MAX_ATTEMPTS, deliver_pending
from fareroom.worker.repository import WorkerRepository

if TYPE_CHECKING:
    from fareroom.bootstrap import Context

log = logging.getLogger("fareroom.worker")


async def run_round(ctx: Context) -> None:
    """One round of the jobs that run every interval.

    After the sandbox's events, one query says which jobs have work (``WorkerRepository.due``);
    the jobs run in order from the first that has some. Those before it are skipped: they had
    nothing, and nothing ran before them that could have given them any. A job that runs may
    make work for the later ones (an ended session's receipt to mail), so they all run."""
    if ctx.sandbox is not None:
        await ctx.sandbox.deliver_events()
    now = ctx.clock.now()
    async with transaction(ctx.sessions) as session:
        due = await WorkerRepository(session).due(
            now, stale_before=now - ctx.meters.reconcile_after, mail_attempts_below=MAX_ATTEMPTS
        )
    jobs = (
        (due.timeouts, ctx.relay.sweep_timeouts),
        (due.stale, ctx.meters.reconcile),
        (due.waiting, ctx.relay.route_all),
        (due.waiting, ctx.relay.watch_queues),
        (due.mail, lambda: deliver_pending(ctx.sessions, ctx.mail_sender(), ctx.clock,
                                           mail_from=ctx.settings.mail_from)),
    )  # fmt: skip
    started = False
    for has_work, job in jobs:
        started = started or has_work
        if started:
            await job()


async def run_worker(ctx: Context, stop: asyncio.Event, *, interval: float = 1.0) -> None:
    """Run the jobs until ``stop`` is set; a failed job is retried on the next round."""
    try:
        fixed = await ctx.meters.rebuild()
        if fixed:
            log.warning("rebuilt %d session meters from their events", fixed)
    except Exception:
        log.exception("rebuilding the meters failed")
    tick, sweep = ctx.settings.meter_tick_seconds, ctx.settings.offline_after_seconds / 3
    next_tick = next_sweep = time.monotonic()
    while not stop.is_set():
        try:
            if time.monotonic() >= next_tick:  # first: the pages wait for it
                next_tick += tick * (1 + (time.monotonic() - next_tick) // tick)
                await ctx.meters.tick()
            await run_round(ctx)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + sweep
                await ctx.relay.sweep_presence()
                await ctx.meeting_jobs.sweep()
                await ctx.expire_registrations()
        except Exception:
            log.exception("worker round failed")
        wait = min(interval, max(0.0, next_tick - time.monotonic()))
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
