from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fareroom.bootstrap import Context

log = logging.getLogger("fareroom.worker")


async def run_worker(ctx: Context, stop: asyncio.Event, *, interval: float = 1.0) -> None:
    """Deliver the sandbox's pending events to the webhook inbox until ``stop`` is set."""
    while not stop.is_set():
        try:
            if ctx.sandbox is not None:
                await ctx.sandbox.deliver_events()
        except Exception:  # a failed round is retried on the next tick
            log.exception("worker round failed")
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
