"""The worker: background jobs in one loop (``fareroom worker``, or inside ``fareroom serve``).

Every round (``interval``): deliver the sandbox's events, end timed-out sessions (telling
their parties), take over stale collections, give waiting clients idle agents, tell those
waiting while no agent is online (releasing their holds after ``queue_nobody_seconds``),
send mail.
Every third of the offline window: record offline the parties whose pages nobody has heard
(their process died). Every ``meter_tick_seconds``: publish the live meters and collect
split bills. On start: rebuild every open session's meter from its events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from fareroom.chat import relay
from fareroom.mail.outbox import deliver_pending
from fareroom.metering import tasks

if TYPE_CHECKING:
    from fareroom.bootstrap import Context

log = logging.getLogger("fareroom.worker")


async def run_round(ctx: Context) -> None:
    """One round of the jobs that run every interval."""
    if ctx.sandbox is not None:
        await ctx.sandbox.deliver_events()
    await tasks.sweep_timeouts(ctx, then=lambda sid: relay.announce(ctx, None, sid))
    await tasks.reconcile(ctx)
    await relay.route_all(ctx)
    await relay.watch_queues(ctx)
    await deliver_pending(ctx.sessions, ctx.mail_sender(), ctx.clock,
                          mail_from=ctx.settings.mail_from)  # fmt: skip


async def run_worker(ctx: Context, stop: asyncio.Event, *, interval: float = 1.0) -> None:
    """Run the jobs until ``stop`` is set; a failed job is retried on the next round."""
    try:
        fixed = await tasks.rebuild(ctx)
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
                await tasks.tick(ctx)
            await run_round(ctx)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + sweep
                await relay.sweep_presence(ctx)
        except Exception:
            log.exception("worker round failed")
        wait = min(interval, max(0.0, next_tick - time.monotonic()))
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
