"""The billing back office's jobs: a payment run's chunks, and the daily schedule.

``chunk`` charges a chunk's pending bills one at a time, each paced by the gateway's token
bucket (shared by every worker) and in a transaction of its own (``billing.runs``). A bill
the gateway did not answer (a timeout, a 429) is asked again, under the same idempotency
key, after a pause that doubles each time (with jitter, so that workers slowed together do
not come back together); after ``retries`` the run records it as not reached, and its
attempt stays pending for the next try.

``schedule`` (the worker's, every minute) starts the runs that are due: each run
definition at its time of day, once a day; and once a day per business a retry run (bills
whose retry day has come) and an autopay run (bills whose client pays them N days early);
tries again the wallets' declined top-ups whose retry day has come; and makes the day's
automatic payouts (``billing.payouts``).

``top_up`` is a wallet's automatic top-up (``billing.wallets``), deferred by the charge that
took the wallet below its threshold.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from fareroom.billing.collect import CollectService
from fareroom.billing.payouts import PayoutsService
from fareroom.billing.runs import CHUNK_TASK, Criteria, RunsService
from fareroom.billing.wallets import TOPUP_TASK, WalletsService
from fareroom.gateway.base import GatewayError, GatewayUnavailable
from fareroom.jobs import Task
from fareroom.kit.bucket import TokenBucket
from fareroom.kit.clock import Clock
from fareroom.kit.errors import FareroomError
from fareroom.models.billing import RunItem
from fareroom.models.business import Business
from fareroom.payments.service import PaymentsService

log = logging.getLogger("fareroom.billing")
T = TypeVar("T")


class BillingUnit(Protocol):
    """What a unit of work gives the billing jobs."""

    runs: RunsService
    collect: CollectService
    payments: PaymentsService
    wallets: WalletsService
    payouts: PayoutsService


class UnitOfWork(Protocol):
    def __call__(
        self, business_id: str | None = None
    ) -> AbstractAsyncContextManager[BillingUnit]: ...


class BillingJobs:
    def __init__(self, unit_of_work: UnitOfWork, clock: Clock, pace: TokenBucket, *,
                 retries: int, backoff: float = 0.25) -> None:  # fmt: skip
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.pace = pace
        self.retries = retries
        self.backoff = backoff

    def tasks(self) -> dict[str, Task]:
        return {CHUNK_TASK: self.chunk, TOPUP_TASK: self.top_up}

    async def top_up(self, wallet_id: str, retry: bool = False) -> str:
        """A wallet's automatic top-up (a job deferred by the charge that took it below its
        threshold, or the schedule's retry of a declined one)."""

        async def work(s: BillingUnit) -> str:
            return await s.wallets.auto_top_up(wallet_id, retry=retry)

        done = await self._paced(None, work)
        if not isinstance(done, GatewayUnavailable):
            return done
        async with self.unit_of_work() as s:  # tried again tomorrow
            await s.wallets.unreached(wallet_id)
        return "unreached"

    async def chunk(self, run_id: str, chunk: int) -> None:
        async with self.unit_of_work() as s:
            run = await s.runs.live(run_id)
            if run is None:
                return
            criteria = Criteria.from_json(run.criteria)
            bill_ids = await s.runs.pending(run_id, chunk)
            # read once for the chunk (its fees and Connect account, for its charges)
            biz = await s.payments.business(run.business_id)
        for bill_id in bill_ids:
            if not await self._item(biz, run_id, bill_id, criteria.recurring_only):
                return  # the run was stopped
        async with self.unit_of_work() as s:
            await s.runs.finish_if_done(run_id)

    async def _item(self, biz: Business, run_id: str, bill_id: str,
                    recurring_only: bool) -> bool:  # fmt: skip
        """Charge one bill of the run; False if the run is no longer running."""

        async def work(s: BillingUnit) -> bool:
            return await self._charge(s, biz, run_id, bill_id, recurring_only)

        done = await self._paced(biz.id, work)
        if not isinstance(done, GatewayUnavailable):
            return done
        log.warning("run %s: bill %s not reached after %d tries", run_id, bill_id,
                    self.retries + 1)  # fmt: skip
        async with self.unit_of_work(biz.id) as s:
            return await self._charge(s, biz, run_id, bill_id, recurring_only,
                                      give_up=done.message)  # fmt: skip

    async def _paced(self, business_id: str | None, work: Callable[[BillingUnit], Awaitable[T]]
                     ) -> T | GatewayUnavailable:  # fmt: skip
        """``work`` in a unit of work, each try paced by the bucket; a gateway that cannot be
        reached is asked again after a pause that doubles each time (with jitter, so that
        workers slowed together do not come back together), ``retries`` times; then its last
        error is returned."""
        for n in range(self.retries + 1):
            await self.pace.take()
            try:
                async with self.unit_of_work(business_id) as s:
                    return await work(s)
            except GatewayUnavailable as exc:
                last = exc
                if n < self.retries:
                    await asyncio.sleep(min(8.0, self.backoff * 2**n) * (0.5 + random.random()))
        return last

    async def _charge(self, s: BillingUnit, biz: Business, run_id: str, bill_id: str,
                      recurring_only: bool, *, give_up: str | None = None) -> bool:  # fmt: skip
        item = await s.runs.claim(run_id, bill_id)
        if not isinstance(item, RunItem):  # None: done already (by another job of this
            return item is None  # chunk); False: the run was stopped
        if give_up is None:
            outcome = await s.collect.collect(biz, bill_id, run_id=run_id,
                                              recurring_only=recurring_only)  # fmt: skip
        else:
            outcome = await s.collect.give_up(
                biz, bill_id, run_id=run_id, recurring_only=recurring_only, error=give_up
            )
        s.runs.record(item, outcome)
        return True

    # ------------------------------------------------------------ the schedule

    async def schedule(self) -> int:
        """Start the runs due now; how many were started."""
        now = self.clock.now()
        async with self.unit_of_work() as s:
            definitions = await s.runs.due_definitions(now)
            daily = await s.runs.daily_due(now.date())
        started = 0
        for business_id, definition_id in definitions:
            async with self.unit_of_work(business_id) as s:
                started += await s.runs.start_definition(business_id, definition_id, now)
        for business_id, kind, criteria in daily:
            async with self.unit_of_work(business_id) as s:
                started += await s.runs.start_daily(business_id, kind, criteria)
        async with self.unit_of_work() as s:
            wallets = await s.wallets.topups_due(now.date())
            payouts = await s.payouts.due(now.date())
        for wallet_id in wallets:
            await self.top_up(wallet_id, retry=True)
        for business_id in payouts:
            try:
                async with self.unit_of_work(business_id) as s:
                    biz = await s.payments.business(business_id)
                    await s.payouts.pay_out_scheduled(biz, now.date())
            except (GatewayError, FareroomError):
                log.warning("the scheduled payout of %s failed; tried again next tick",
                            business_id, exc_info=True)  # fmt: skip
        return started

    async def resume(self) -> int:
        """Defer again the chunks of running runs (on SQLite, where jobs waiting in memory
        are lost with the process); how many."""
        async with self.unit_of_work() as s:
            return await s.runs.resume_all()
