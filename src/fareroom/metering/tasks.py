"""The meter's background jobs, run by the worker (and by requests, for their own session).

- ``settle``: carry out a session's planned collections, one transaction each.
- ``tick``: once per increment, the live state of every open session is computed from its
  checkpoint (no events read) and published, a batch at a time; sessions whose amount due
  reached the split threshold are collected.
- ``sweep_timeouts``: sessions a party has been offline from for longer than the timeout
  are ended and collected. It reads only those sessions, through the index on
  ``timeout_at``: its cost grows with the stale sessions, not the open ones.
- ``reconcile``: a collection still pending a while after it was planned (its process died
  between the gateway's answer and our write, or the gateway could not be reached) is
  carried out again; its gateway keys make the gateway replay what it already did.
- ``rebuild``: on start, every open session's checkpoint is derived again from its events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fareroom.chat.service import as_tariff
from fareroom.gateway.base import GatewayUnavailable
from fareroom.kit.db import Keyset
from fareroom.metering.repository import MeteringRepository
from fareroom.pricing.collection import split_amount
from fareroom.pricing.meter import seconds_at
from fareroom.pricing.tariff import Tariff

if TYPE_CHECKING:
    from fareroom.bootstrap import Context

log = logging.getLogger("fareroom.metering")
MAX_STEPS = 4  # a failed split plans the final collection: at most a few in a row


async def settle(ctx: Context, session_id: str) -> None:
    """Carry out the session's pending collections; a gateway that cannot be reached
    leaves them pending for ``reconcile``."""
    for _ in range(MAX_STEPS):
        async with ctx.unit_of_work() as s:
            pending = await s.metering.pending_collection(session_id)
        if pending is None:
            return
        collection_id, business_id = pending
        try:
            async with ctx.unit_of_work(business_id) as s:
                await s.metering.execute(collection_id)
        except GatewayUnavailable:
            log.warning("collection %s left pending: the gateway is unreachable", collection_id)
            return


@dataclass
class TickResult:
    sessions: int = 0
    published: int = 0
    split: int = 0


async def tick(ctx: Context, *, batch: int = 500) -> TickResult:
    """Publish every open session's live meter, ``batch`` sessions at a time: each batch
    is read, priced at the moment it was read (``t``: a page's lateness is its arrival
    minus ``t``) and sent before the next is read, so the first pages hear the tick while
    the last are still being read, and no update waits behind thousands of others."""
    result = TickResult()
    tariffs: dict[tuple[Any, ...], Tariff] = {}
    to_split: list[str] = []
    after = ""
    while True:
        async with ctx.sessions() as session:
            rows = await MeteringRepository(session).open_sessions(after=after, limit=batch)
        now = ctx.clock.now()
        t = round(now.timestamp(), 3)
        updates = []
        for row in rows:
            key = tuple(row[6:])
            tariff = tariffs.get(key) or tariffs.setdefault(key, as_tariff(row))
            seconds = seconds_at(row.meter_seconds, row.meter_origin, now)
            price = tariff.price(seconds)
            due = price - row.collected
            updates.append((f"session:{row.id}", {
                "type": "meter", "session_id": row.id, "state": row.meter_state,
                "seconds": seconds, "price": price, "collected": row.collected, "due": due,
                "currency": tariff.currency, "t": t}))  # fmt: skip
            if split_amount(due, tariff.split_threshold):
                to_split.append(row.id)
        result.published += await ctx.hub.publish_many(updates)
        result.sessions += len(rows)
        if len(rows) < batch:
            break
        after = rows[-1].id
    for session_id in to_split:
        async with ctx.unit_of_work() as s:
            planned = await s.metering.split_if_due(session_id)
        if planned:
            result.split += 1
            await settle(ctx, session_id)
    return result


async def sweep_timeouts(
    ctx: Context, *, limit: int = 500, then: Callable[[str], Awaitable[Any]] | None = None
) -> int:
    """End the sessions timed out; ``then`` (telling the parties) gets each one's id."""
    now = ctx.clock.now()
    ended = 0
    after: Keyset | None = None
    while True:
        async with ctx.sessions() as session:
            page = await MeteringRepository(session).timed_out(now, after=after, limit=limit)
        for _, session_id in page:
            async with ctx.unit_of_work() as s:
                done = await s.metering.time_out(session_id)
            ended += done
            await settle(ctx, session_id)
            if done and then is not None:
                await then(session_id)
        if len(page) < limit:
            return ended
        after = (page[-1][0], page[-1][1])


async def reconcile(ctx: Context, *, limit: int = 100) -> int:
    """Carry out the collections still pending; returns how many sessions it took up. A
    collection left pending again (the gateway still unreachable) is passed over until
    the next round."""
    before = ctx.clock.now() - timedelta(seconds=ctx.settings.reconcile_after_seconds)
    done: set[str] = set()
    after: Keyset | None = None
    while True:
        async with ctx.sessions() as session:
            page = await MeteringRepository(session).stale_collections(
                before, after=after, limit=limit)  # fmt: skip
        for _, _, session_id in page:
            if session_id not in done:
                done.add(session_id)
                await settle(ctx, session_id)
        if len(page) < limit:
            return len(done)
        after = (page[-1][0], page[-1][1])


async def rebuild(ctx: Context) -> int:
    """Derive every open session's checkpoint from its events; returns how many were wrong."""
    async with ctx.sessions() as session:
        ids = await MeteringRepository(session).open_ids()
    fixed = 0
    for session_id in ids:
        async with ctx.unit_of_work() as s:
            fixed += await s.metering.rebuild(session_id)
    return fixed
