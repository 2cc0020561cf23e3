"""The worker: background jobs in one loop (``fareroom worker``, or inside ``fareroom serve``).

Every round (``interval``): deliver the sandbox's events, end timed-out sessions, take over
stale collections, send mail. Every ``tick`` seconds: publish the live meters and collect
split bills. On start: rebuild every open session's meter from its events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from fareroom.mail.outbox import deliver_pending
from fareroom.metering import tasks

if TYPE_CHECKING:
    from fareroom.bootstrap import Context

log = logging.getLogger("fareroom.worker")


async def run_round(ctx: Context) -> None:
    """One round of the jobs that run every interval."""
    if ctx.sandbox is not None:
        await ctx.sandbox.deliver_events()
    await tasks.sweep_timeouts(ctx)
    await tasks.reconcile(ctx)
    await deliver_pending(ctx.sessions, ctx.mail_sender(), ctx.clock,
                          mail_from=ctx.settings.mail_from)  # fmt: skip


async def run_worker(
    ctx: Context, stop: asyncio.Event, *, interval: float = 1.0, tick: float = 30.0
) -> None:
    """Run the jobs until ``stop`` is set; a failed job is retried on the next round."""
    try:
        fixed = await tasks.rebuild(ctx)
        if fixed:
            log.warning("rebuilt %d session meters from their events", fixed)
    except Exception:
        log.exception("rebuilding the meters failed")
    next_tick = time.monotonic()
    while not stop.is_set():
        try:
            await run_round(ctx)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick
                await tasks.tick(ctx)
        except Exception:
            log.exception("worker round failed")
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
