"""The meter's background jobs, run by the worker (and by requests, for their own session).

``MeterJobs`` is given what the jobs need (built by ``bootstrap``): a unit of work (one
transaction with the services), sessions for the pages they read outside one, the hub the
meters are published to, the clock and its timings. It reads no settings.

- ``settle``: carry out a session's planned collections, one transaction each;
  ``announce``: settle, then publish the session's state to both parties.
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
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fareroom.gateway.base import GatewayUnavailable
from fareroom.kit.clock import Clock
from fareroom.kit.db import Keyset
from fareroom.metering.repository import MeteringRepository
from fareroom.metering.schemas import session_out
from fareroom.metering.service import LiveState, MeteringService, as_tariff
from fareroom.pricing.collection import split_amount
from fareroom.pricing.meter import seconds_at
from fareroom.pricing.tariff import Tariff
from fareroom.realtime.hub import Hub

log = logging.getLogger("fareroom.metering")
MAX_STEPS = 4  # a failed split plans the final collection: at most a few in a row


class MeteringUnit(Protocol):
    """What a unit of work gives the meter's jobs."""

    metering: MeteringService


class UnitOfWork(Protocol):
    """One transaction (for ``business_id``'s gateway log), its services bound to it."""

    def __call__(
        self, business_id: str | None = None
    ) -> AbstractAsyncContextManager[MeteringUnit]: ...


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


@dataclass
class TickResult:
    sessions: int = 0
    published: int = 0
    split: int = 0


@dataclass(frozen=True)
class MeterJobs:
    unit_of_work: UnitOfWork
    sessions: async_sessionmaker[AsyncSession]  # reads outside a unit of work
    hub: Hub
    clock: Clock
    reconcile_after: timedelta  # a collection pending this long is taken over

    async def settle(self, session_id: str) -> None:
        """Carry out the session's pending collections; a gateway that cannot be reached
        leaves them pending for ``reconcile``."""
        async with self.unit_of_work() as s:
            pending = await s.metering.pending_collection(session_id)
        for _ in range(MAX_STEPS):
            if pending is None:
                return
            collection_id, business_id = pending
            try:
                async with self.unit_of_work(business_id) as s:
                    await s.metering.execute(collection_id)
                    # The next (a failed split plans the final one), read in the same
                    # transaction: it sees what this one planned.
                    pending = await s.metering.pending_collection(session_id)
            except GatewayUnavailable:
                log.warning("collection %s left pending: the gateway is unreachable",
                            collection_id)  # fmt: skip
                return

    async def announce(self, business_id: str | None, session_id: str) -> LiveState:
        """Carry out what the session's last change planned, then publish its state."""
        await self.settle(session_id)
        async with self.unit_of_work() as s:
            state = await s.metering.state(business_id, session_id)
        out = session_out(state).model_dump(mode="json")
        await self.hub.publish(session_topic(session_id), {"type": "session", "session": out})
        return state

    async def tick(self, *, batch: int = 500) -> TickResult:
        """Publish every open session's live meter, ``batch`` sessions at a time: each
        batch is read, priced at the moment it was read (``t``: a page's lateness is its
        arrival minus ``t``) and sent before the next is read, so the first pages hear the
        tick while the last are still being read, and no update waits behind thousands of
        others."""
        result = TickResult()
        tariffs: dict[tuple[Any, ...], Tariff] = {}
        to_split: list[str] = []
        after = ""
        while True:
            async with self.sessions() as session:
                rows = await MeteringRepository(session).open_sessions(after=after, limit=batch)
            now = self.clock.now()
            t = round(now.timestamp(), 3)
            updates = []
            for row in rows:
                key = tuple(row[6:])
                tariff = tariffs.get(key) or tariffs.setdefault(key, as_tariff(row))
                seconds = seconds_at(row.meter_seconds, row.meter_origin, now)
                price = tariff.price(seconds)
                due = price - row.collected
                updates.append((session_topic(row.id), {
                    "type": "meter", "session_id": row.id, "state": row.meter_state,
                    "seconds": seconds, "price": price, "collected": row.collected, "due": due,
                    "currency": tariff.currency, "t": t}))  # fmt: skip
                if split_amount(due, tariff.split_threshold):
                    to_split.append(row.id)
            result.published += await self.hub.publish_many(updates)
            result.sessions += len(rows)
            if len(rows) < batch:
                break
            after = rows[-1].id
        for session_id in to_split:
            async with self.unit_of_work() as s:
                planned = await s.metering.split_if_due(session_id)
            if planned:
                result.split += 1
                await self.settle(session_id)
        return result

    async def sweep_timeouts(
        self, *, limit: int = 500, then: Callable[[str], Awaitable[Any]] | None = None
    ) -> int:
        """End the sessions timed out; ``then`` (telling the parties) gets each one's id."""
        now = self.clock.now()
        ended = 0
        after: Keyset | None = None
        while True:
            async with self.sessions() as session:
                page = await MeteringRepository(session).timed_out(now, after=after, limit=limit)
            for _, session_id in page:
                async with self.unit_of_work() as s:
                    done = await s.metering.time_out(session_id)
                ended += done
                await self.settle(session_id)
                if done and then is not None:
                    await then(session_id)
            if len(page) < limit:
                return ended
            after = (page[-1][0], page[-1][1])

    async def reconcile(self, *, limit: int = 100) -> int:
        """Carry out the collections still pending; returns how many sessions it took up.
        A collection left pending again (the gateway still unreachable) is passed over
        until the next round."""
        before = self.clock.now() - self.reconcile_after
        done: set[str] = set()
        after: Keyset | None = None
        while True:
            async with self.sessions() as session:
                page = await MeteringRepository(session).stale_collections(
                    before, after=after, limit=limit)  # fmt: skip
            for _, _, session_id in page:
                if session_id not in done:
                    done.add(session_id)
                    await self.settle(session_id)
            if len(page) < limit:
                return len(done)
            after = (page[-1][0], page[-1][1])

    async def rebuild(self) -> int:
        """Derive every open session's checkpoint from its events; returns how many were
        wrong."""
        async with self.sessions() as session:
            ids = await MeteringRepository(session).open_ids()
        fixed = 0
        for session_id in ids:
            async with self.unit_of_work() as s:
                fixed += await s.metering.rebuild(session_id)
        return fixed
