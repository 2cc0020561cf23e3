"""The worker: the periodic jobs and the tasks that jobs name (``fareroom worker``, or inside
``fareroom serve``), run by the Context's ``jobs`` (``fareroom.jobs``: in this process on
SQLite; through procrastinate's queue on PostgreSQL, where any number of workers share them
and each periodic job runs in one of them at a time).

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
Every ``meter_tick_seconds``: publish the live meters and collect split bills. Every
minute: start the payment runs that are due (``billing.tasks``); their chunks are jobs. On
start: rebuild every open session's meter from its events (and, on SQLite, defer again the
chunks of running payment runs).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fareroom.jobs import Periodic, Task
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


ROUND_SECONDS = 1.0
SCHEDULE_SECONDS = 60.0


async def sweep(ctx: Context) -> None:
    """Every third of the offline window: presence, meetings' participants, registrations."""
    await ctx.relay.sweep_presence()
    await ctx.meeting_jobs.sweep()
    await ctx.expire_registrations()


def periodic_jobs(ctx: Context) -> list[Periodic]:
    """The periodic jobs, the meter's tick first (the pages wait for it). They share one
    lock: they were written to run one after another (a tick's collection and the round's
    takeover of stale ones, the sweeps, never at once), and so they still do, in whichever
    worker."""
    st = ctx.settings
    return [
        Periodic("meter.tick", st.meter_tick_seconds, ctx.meters.tick, lock="worker"),
        Periodic("round", ROUND_SECONDS, lambda: run_round(ctx), lock="worker"),
        Periodic("sweep", st.offline_after_seconds / 3, lambda: sweep(ctx), lock="worker"),
        # the billing schedule has its own lock: a run it starts runs as jobs, not in it
        Periodic("billing.schedule", SCHEDULE_SECONDS, ctx.billing.schedule),
    ]


def tasks(ctx: Context) -> dict[str, Task]:
    """The tasks jobs name, bound to ``ctx``."""
    return ctx.billing.tasks()


async def run_worker(ctx: Context, stop: asyncio.Event) -> None:
    """Run the jobs until ``stop`` is set (a failed periodic job runs again on its next
    period); first rebuild every open session's meter from its events."""
    try:
        fixed = await ctx.meters.rebuild()
        if fixed:
            log.warning("rebuilt %d session meters from their events", fixed)
    except Exception:
        log.exception("rebuilding the meters failed")
    if not ctx.jobs.durable:  # the jobs of running payment runs were lost with the process
        try:
            await ctx.billing.resume()
        except Exception:
            log.exception("resuming the payment runs failed")
    await ctx.jobs.run(tasks(ctx), periodic_jobs(ctx), stop)
