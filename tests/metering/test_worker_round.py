"""The worker's round asks once what is due (``WorkerRepository.due``): each flag must say
exactly what that job's own query would find, at the edges of its delays too, or a round
would skip work it has."""

from __future__ import annotations

from fareroom.bootstrap import Context
from fareroom.chat.repository import LiveRepository
from fareroom.kit.db import transaction
from fareroom.mail.outbox import MAX_ATTEMPTS
from fareroom.mail.repository import MailRepository
from fareroom.metering.repository import MeteringRepository
from fareroom.worker.loop import run_round
from fareroom.worker.repository import Due, WorkerRepository
from tests.metering.conftest import Chat


async def _due_and_found(ctx: Context) -> tuple[Due, Due]:
    """What ``due`` says, and what the jobs' own first queries find (the whole database's:
    the suite's other tenants are in it too)."""
    now = ctx.clock.now()
    before = now - ctx.meters.reconcile_after
    async with transaction(ctx.sessions) as session:
        due = await WorkerRepository(session).due(now, stale_before=before,
                                                  mail_attempts_below=MAX_ATTEMPTS)  # fmt: skip
        meter, live = MeteringRepository(session), LiveRepository(session)
        found = Due(
            timeouts=bool(await meter.timed_out(now, limit=1)),
            stale=bool(await meter.stale_collections(before, limit=1)),
            waiting=bool(await live.rooms_with_waiting()),
            mail=bool(await MailRepository(session).unsent(attempts_below=MAX_ATTEMPTS,
                                                           limit=1)),
        )  # fmt: skip
    return due, found


async def test_each_job_is_due_exactly_when_its_own_query_finds_work(chat: Chat) -> None:
    ctx = chat.ctx
    assert ctx.sandbox is not None
    session = await chat.open(await chat.room())
    chat.advance(400)
    await chat.event(session, "offline", "client")
    chat.advance(ctx.settings.presence_timeout_seconds)  # the timeout is now, not yet past
    due, found = await _due_and_found(ctx)
    assert due == found
    await ctx.meters.sweep_timeouts()  # other tests' sessions, not this one's yet
    chat.advance(1)
    due, found = await _due_and_found(ctx)
    assert due == found and due.timeouts
    # The gateway captures, its answer is lost: the collection stays pending.
    ctx.sandbox.inject_fault("capture", "lost_response")
    await ctx.meters.sweep_timeouts()
    assert (await chat.get(session))["collection_pending"] is True
    due, found = await _due_and_found(ctx)
    assert due == found
    chat.advance(ctx.settings.reconcile_after_seconds)  # pending exactly the delay: stale
    due, found = await _due_and_found(ctx)
    assert due == found and due.stale
    await run_round(ctx)
    done = await chat.get(session)
    assert (done["status"], done["collection_pending"]) == ("paid", False)
    due, found = await _due_and_found(ctx)
    assert due == found
