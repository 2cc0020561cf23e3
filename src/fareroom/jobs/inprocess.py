"""Jobs in this process (SQLite): see ``fareroom.jobs``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from fareroom.jobs import Periodic, Task

log = logging.getLogger("fareroom.jobs")

_PENDING = "fareroom.jobs.pending"


class InProcessJobs:
    """Deferred jobs wait in memory from their transaction's commit; ``run`` executes them,
    ``concurrency`` at a time, between the periodic jobs (run in their order, one at a time:
    the first is the one pages wait for)."""

    durable = False  # jobs waiting in memory are lost with the process

    def __init__(self, *, concurrency: int = 4) -> None:
        self._ready: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._concurrency = concurrency

    async def defer(self, session: AsyncSession, task: str, args: Sequence[Mapping[str, Any]],
                    ) -> None:  # fmt: skip
        sync = session.sync_session
        pending = sync.info.get(_PENDING)
        if pending is None:
            pending = sync.info[_PENDING] = []
            event.listen(sync, "after_commit", self._committed, once=True)
            event.listen(sync, "after_rollback", _forget, once=True)
        pending.extend((task, dict(a)) for a in args)

    def _committed(self, session: Session) -> None:
        self._ready.extend(session.info.pop(_PENDING, ()))
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._ready)

    async def _execute(self, tasks: Mapping[str, Task], name: str, args: dict[str, Any]) -> None:
        task = tasks.get(name)
        if task is None:
            log.error("no task %r: job dropped", name)
            return
        try:
            await task(**args)
        except Exception:
            log.exception("job %s(%s) failed", name, args)

    async def drain(self, tasks: Mapping[str, Task]) -> int:
        done = 0
        while self._ready:
            batch = [self._ready.popleft() for _ in range(min(self._concurrency, len(self._ready)))]
            await asyncio.gather(*(self._execute(tasks, name, args) for name, args in batch))
            done += len(batch)
        return done

    async def run(self, tasks: Mapping[str, Task], periodic: Sequence[Periodic],
                  stop: asyncio.Event) -> None:  # fmt: skip
        due = {p.name: time.monotonic() for p in periodic}
        running: set[asyncio.Task[None]] = set()

        def finished(job: asyncio.Task[None]) -> None:
            running.discard(job)
            self._wake.set()

        while not stop.is_set():
            for p in periodic:
                now = time.monotonic()
                if now >= due[p.name]:
                    due[p.name] += p.every * (1 + (now - due[p.name]) // p.every)
                    try:
                        await p.run()
                    except Exception:
                        log.exception("periodic job %s failed", p.name)
            self._wake.clear()  # set again by a commit that defers, or a job that ends
            while self._ready and len(running) < self._concurrency:
                name, args = self._ready.popleft()
                job = asyncio.create_task(self._execute(tasks, name, args))
                running.add(job)
                job.add_done_callback(finished)
            now = time.monotonic()
            await _either(stop, self._wake, within=max(0.0, min(due.values(), default=now + 1)
                                                       - now))  # fmt: skip
        if running:
            await asyncio.wait(running, timeout=10)

    async def close(self) -> None:
        return None


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def _either(a: asyncio.Event, b: asyncio.Event, *, within: float) -> None:
    """Until either event is set, or ``within`` seconds."""
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    _, pending = await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    for w in pending:
        w.cancel()
