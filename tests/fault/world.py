"""The simulated world a schedule runs in: a process (a ``Context``) on copied database files,
a frozen clock, a gateway whose calls can fail, the gateway's webhook queue, restarts.

- **Template**: migrated once per run, with the businesses, clients, cards and rooms every
  schedule starts from; each schedule runs on a copy of its two SQLite files (ours and the
  sandbox's) under ``/dev/shm`` when there is one, always at the same path in one process:
  a process keeps its engines from one schedule to the next (``bootstrap`` is handed them
  again), so statements are compiled once, not once per schedule or restart. A disposed
  engine holds nothing of a schedule: its connections are closed, its files replaced.
- **Ids**: ``fareroom.kit.ids`` draws on the clock and ``os.urandom``; here both come from the
  schedule's seed (a counter and a seeded generator), so a replay makes the same ids.
- **Faults** (``FaultyGateway``): the n-th gateway call of a step fails as planned — before
  acting (``timeout``, ``rate_limit``), after acting with the answer lost (``lost``), or after
  acting with the process stopped (``crash``: a ``ProcessStopped`` no product code catches,
  so the transaction rolls back). A stopped process is replaced by a new ``Context`` on the
  same files, with nothing kept in memory.
- **Webhooks**: the sandbox's events go to a queue the world keeps (the gateway's side, which
  outlives our processes); steps deliver them late, out of order and more than once.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from fareroom import bootstrap as composition
from fareroom.bootstrap import Context, bootstrap
from fareroom.config import Settings
from fareroom.gateway.base import GatewayRateLimited, GatewayUnavailable
from fareroom.gateway.log import LoggedGateway
from fareroom.kit import ids
from fareroom.kit.clock import FrozenClock
from fareroom.worker.loop import run_round

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAULT_KINDS = ("timeout", "rate_limit", "lost", "crash")
# Calls that reach the gateway and may fail there (reads included: a webhook's handler
# reads the charge back).
FAULTABLE = frozenset({"create_customer", "attach_card", "create_charge", "capture", "cancel",
                       "refund", "create_payout", "retrieve_charge"})  # fmt: skip


class ProcessStopped(BaseException):
    """The process died: nothing in the product catches it, so nothing is committed."""


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    at: int  # the step's n-th gateway call (0 the first)

    def __str__(self) -> str:
        return f"{self.kind}@{self.at}"


class _SeededTime:
    """``time`` for ``kit.ids``: milliseconds that grow by one per id, from a fixed start."""

    def __init__(self, start: int) -> None:
        self.ms = start

    def time_ns(self) -> int:
        self.ms += 1
        return self.ms * 1_000_000


class _SeededOs:
    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def urandom(self, n: int) -> bytes:
        return self.rng.randbytes(n)


@contextmanager
def seeded_ids(seed: int | None) -> Iterator[None]:
    """While inside, the product's ids are a function of ``seed`` (test-side: kit.ids's own
    sources); None: the template's, which come before any schedule's. Restored after, for
    the suite's tests that run in the same process."""
    start = int(START.timestamp() * 1000) + (0 if seed is None else 10**9)
    saved = ids.time, ids.os
    ids.time = _SeededTime(start)  # type: ignore[assignment]
    ids.os = _SeededOs("template" if seed is None else f"schedule {seed}")  # type: ignore[assignment]
    try:
        yield
    finally:
        ids.time, ids.os = saved


class FaultyGateway:
    """The sandbox, with the current step's planned fault fired at its n-th call."""

    def __init__(self, inner: Any, world: World) -> None:
        self.inner = inner
        self.name = inner.name
        self._world = world

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.inner, attr)
        if attr not in FAULTABLE:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            fault = self._world.next_call()
            if fault in ("timeout", "rate_limit"):
                self._world.fired(fault)
                raise (
                    GatewayUnavailable("Timed out (simulated).", code="timeout")
                    if fault == "timeout"
                    else GatewayRateLimited("Too many requests (simulated).", code="rate_limit")
                )
            result = await target(*args, **kwargs)  # a call that fails itself fires nothing
            if fault in ("lost", "crash"):
                self._world.fired(fault)
                raise (
                    GatewayUnavailable("The response was lost (simulated).", code="timeout")
                    if fault == "lost"
                    else ProcessStopped(attr)
                )
            return result

        return call


FILES = ("fareroom.sqlite3", "fareroom-sandbox.sqlite3")
_engines: dict[str, AsyncEngine] = {}
_create_engine = composition.create_engine


def _kept_engine(url: str, *, durable: bool = True) -> AsyncEngine:
    """The process's engine for ``url``. Never durable: what a schedule simulates is a process
    that stops (its transaction rolls back), not a machine that loses its disk, and a durable
    commit waits in aiosqlite's thread (a third of a millisecond of switching each)."""
    if url not in _engines:
        _engines[url] = _create_engine(url, durable=False)
    return _engines[url]


def _restore(template: Path, directory: Path) -> None:
    """The template's files at ``directory`` (no engine has them open)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        for suffix in ("-wal", "-shm"):
            (directory / (name + suffix)).unlink(missing_ok=True)
        shutil.copyfile(template / name, directory / name)


class World:
    """One schedule's world: its files, its clock, its current process."""

    def __init__(self, template: Path) -> None:
        self.dir = Path(_scratch()) / f"fareroom-fault-{os.getpid()}"
        _restore(template, self.dir)
        self.settings = settings_for(self.dir)
        self.clock = FrozenClock(START)
        self.webhooks: list[tuple[bytes, str]] = []  # sent by the gateway, not yet received
        self.faults: Counter[str] = Counter()  # the faults fired, by kind
        self.restarts = 0
        self._fault: Fault | None = None
        self._calls = 0
        self.ctx = self._start()

    def _start(self) -> Context:
        composition.create_engine = _kept_engine  # type: ignore[assignment]
        try:
            ctx = bootstrap(self.settings, clock=self.clock)
        finally:
            composition.create_engine = _create_engine
        assert ctx.sandbox is not None
        ctx.gateway = LoggedGateway(FaultyGateway(ctx.sandbox, self), ctx.gateway_log)

        async def queue(payload: bytes, signature: str) -> None:
            self.webhooks.append((payload, signature))

        ctx.sandbox.event_sink = queue
        return ctx

    # ------------------------------------------------------------ faults

    def plan(self, fault: Fault | None) -> None:
        """The fault the coming step's gateway calls meet (None: none)."""
        self._fault, self._calls = fault, 0

    def next_call(self) -> str | None:
        """The fault planned for this call of the step (None: none)."""
        n, self._calls = self._calls, self._calls + 1
        return self._fault.kind if self._fault is not None and self._fault.at == n else None

    def fired(self, kind: str) -> None:
        self.faults[kind] += 1

    # ------------------------------------------------------------ processes and jobs

    async def restart(self) -> None:
        """The process died: a new one starts on the same files and runs the recovery jobs
        (the meters rebuilt, then the worker's rounds once stale work is due)."""
        await self.ctx.close()
        self.ctx = self._start()
        self.restarts += 1
        await self.ctx.meters.rebuild()

    async def guarded(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``work``; a stopped process is restarted (and None returned)."""
        try:
            return await work()
        except ProcessStopped:
            await self.restart()
            return None

    async def round(self) -> None:
        """One round of the worker's jobs."""
        await self.guarded(lambda: run_round(self.ctx))

    async def deliver(self, rng: random.Random, *, share: float, duplicate: float) -> int:
        """Deliver about ``share`` of the queued webhooks, in random order; each delivered
        one stays queued with probability ``duplicate`` (the gateway sends it again)."""
        if self.ctx.sandbox is not None:
            await self.guarded(self.ctx.sandbox.deliver_events)
        rng.shuffle(self.webhooks)
        cut = round(len(self.webhooks) * share)
        now, later = self.webhooks[:cut], self.webhooks[cut:]
        self.webhooks = later + [w for w in now if rng.random() < duplicate]
        for payload, signature in now:
            await self.guarded(partial(self._receive, payload, signature))
        return len(now)

    async def _receive(self, payload: bytes, signature: str) -> None:
        try:
            async with self.ctx.unit_of_work() as s:
                await s.webhooks.receive(payload, signature)
        except (GatewayUnavailable, GatewayRateLimited):
            self.webhooks.append((payload, signature))  # not acknowledged: sent again

    async def close(self) -> None:
        await self.ctx.close()


def _scratch() -> str:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else tempfile.gettempdir()


@cache
def settings_for(directory: Path) -> Settings:
    """The settings of the world at ``directory``, built once per process and directory
    (reading the environment costs milliseconds, a tenth of a short schedule)."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{directory}/fareroom.sqlite3",
        base_url="http://fault.local",
        secret_key="fault-simulator",
        sandbox_webhook_secret="whsec_fault_simulator",
        mail_dir=directory / "mail",
    )
