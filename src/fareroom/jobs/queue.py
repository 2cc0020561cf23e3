"""Jobs through procrastinate's queue on PostgreSQL: see ``fareroom.jobs``.

A job is deferred inside the caller's transaction (our asyncpg connection) by the queue's own
SQL function, ``procrastinate_defer_jobs_v1``, which its Python ``defer`` calls too; that is
why the version is pinned with the schema that migration 0013 installs. The workers talk to
the queue through procrastinate's psycopg connector, on a small pool of their own.

``queue`` names this deployment's queue: the workers of one deployment (its ``serve`` and
``worker`` processes, which share its hub) take its jobs, and only its; the test suite gives
each server it starts a queue of its own on the one database. Periodic jobs are deferred on
their period in whole seconds (a cron with seconds; a period that does not divide a minute
starts again on each minute); each has a queueing lock of its name (one waits at most) and a
lock (its name, or the one it shares with others), so one of a lock runs at a time. A job
whose worker stopped answering (killed mid-job) is put back in the queue by the worker's own
periodic ``recover``: what it did before it died is done again, so a task is written to be run
again (its rows say what is left).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import procrastinate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.jobs import Periodic, Task

log = logging.getLogger("fareroom.jobs")

_DEFER = text("""
SELECT procrastinate_defer_jobs_v1(ARRAY(
  SELECT ROW(CAST(:queue AS varchar), CAST(:task AS varchar), 0, CAST(:lock AS text), NULL,
             CAST(a AS jsonb), NULL)::procrastinate_job_to_defer_v1
  FROM unnest(CAST(:args AS text[])) AS a))
""")

RECOVER_EVERY = 15.0  # seconds between looks for the jobs of workers that stopped answering
STALLED_AFTER = 30.0  # a job whose worker has not beaten its heart for this long is stalled
# A new job wakes the workers (LISTEN/NOTIFY); one held back by a lock (the periodic jobs that
# share one) is not announced when the lock frees, and waits for this poll.
POLL_SECONDS = 0.25


def cron_every(seconds: float) -> str:
    """A cron for a period rounded to whole seconds (whole minutes above one). Seconds are
    the sixth field, after the day of the week (croniter's order, which procrastinate uses)."""
    n = max(1, round(seconds))
    if n < 60:
        return f"* * * * * */{n}"
    return f"*/{max(1, round(n / 60))} * * * *"


def conninfo(database_url: str) -> str:
    """psycopg's URL for SQLAlchemy's ``postgresql+asyncpg://…``."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgresql") else database_url


class QueueJobs:
    durable = True

    def __init__(self, database_url: str, *, queue: str = "fareroom", concurrency: int = 4,
                 ) -> None:  # fmt: skip
        self.queue = queue
        self._conninfo = conninfo(database_url)
        self._concurrency = concurrency

    async def defer(self, session: AsyncSession, task: str, args: Sequence[Mapping[str, Any]],
                    *, lock: str | None = None) -> None:  # fmt: skip
        if args:
            await session.execute(_DEFER, {"queue": self.queue, "task": task, "lock": lock,
                                           "args": [json.dumps(a) for a in args]})  # fmt: skip

    def _app(self, tasks: Mapping[str, Task], periodic: Sequence[Periodic]) -> procrastinate.App:
        connector = procrastinate.PsycopgConnector(
            conninfo=self._conninfo, min_size=1, max_size=self._concurrency + 2
        )
        app = procrastinate.App(connector=connector)
        for name, fn in tasks.items():
            app.task(name=name, queue=self.queue)(_by_keywords(fn))
        for p in (*periodic, Periodic("queue.recover", RECOVER_EVERY, lambda: self._recover(app))):
            task = app.task(name=f"periodic.{p.name}", queue=self.queue,
                            lock=f"{self.queue}:{p.lock or p.name}",
                            queueing_lock=f"{self.queue}:{p.name}")(_on_tick(p))  # fmt: skip
            app.periodic(cron=cron_every(p.every), periodic_id=self.queue)(task)
        return app

    async def _recover(self, app: procrastinate.App) -> None:
        stalled = await app.job_manager.get_stalled_jobs(
            queue=self.queue, seconds_since_heartbeat=STALLED_AFTER
        )
        for job in stalled:
            log.warning("job %s (%s) stalled: its worker stopped; queued again", job.id,
                        job.task_name)  # fmt: skip
            await app.job_manager.retry_job(job)

    async def run(self, tasks: Mapping[str, Task], periodic: Sequence[Periodic],
                  stop: asyncio.Event) -> None:  # fmt: skip
        app = self._app(tasks, periodic)
        async with app.open_async():
            worker = asyncio.create_task(app.run_worker_async(
                queues=[self.queue], concurrency=self._concurrency, wait=True,
                delete_jobs="successful", install_signal_handlers=False,
                shutdown_graceful_timeout=10, update_heartbeat_interval=5,
                fetch_job_polling_interval=POLL_SECONDS))  # fmt: skip
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not worker.done():
                worker.cancel()
            with suppress(asyncio.CancelledError):
                await worker

    async def drain(self, tasks: Mapping[str, Task]) -> int:
        ran = [0]

        def counted(fn: Task) -> Task:
            async def job(**kwargs: Any) -> Any:
                ran[0] += 1
                return await fn(**kwargs)

            return job

        app = self._app({name: counted(fn) for name, fn in tasks.items()}, ())
        async with app.open_async():
            while await self.waiting(app):  # a pass ends when it finds none; jobs may add more
                await app.run_worker_async(queues=[self.queue], concurrency=self._concurrency,
                                           wait=False, delete_jobs="successful",
                                           install_signal_handlers=False,
                                           listen_notify=False)  # fmt: skip
        return ran[0]

    async def waiting(self, app: procrastinate.App) -> int:
        row = await app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE queue_name = %(queue)s "
            "AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())",
            queue=self.queue)  # fmt: skip
        return int(row["n"])

    async def close(self) -> None:
        return None


def _by_keywords(fn: Task) -> Task:
    async def job(**kwargs: Any) -> Any:
        return await fn(**kwargs)

    job.__name__ = getattr(fn, "__name__", "job")
    return job


def _on_tick(p: Periodic) -> Task:
    async def job(timestamp: int) -> None:
        await p.run()

    job.__name__ = p.name.replace(".", "_")
    return job
