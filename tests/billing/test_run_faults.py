"""A payment run of many bills (``FAREROOM_FAULT_RUN_BILLS``, 10 000 by default) on
PostgreSQL, spread over three ``fareroom worker`` processes, against a sandbox that times
out, answers 429 (at random, and above its rate limit) and loses answers after charging; one
worker is killed mid-run, the run is stopped and started again. At the end every bill is
paid exactly once or failed with a reason, the gateway holds exactly one charge per paid
bill, and the ledger balances and agrees with the gateway (the tenant fixture's
reconciliation)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fareroom.bootstrap import Context, jobs_for
from fareroom.config import Settings
from fareroom.models.billing import Bill, BillAttempt, RunItem
from fareroom.models.gateway import GatewayRequest
from tests.billing.test_runs import DECLINES
from tests.conftest import Tenant, is_postgres
from tests.support.servers import FareroomWorker

BILLS = int(os.environ.get("FAREROOM_FAULT_RUN_BILLS", "10000"))
CLIENTS = 100  # every tenth with a card that is declined
FAULTS = "timeout=0.02,rate_limit=0.02,lost_response=0.02"


async def _import(t: Tenant, clients: list[dict]) -> None:
    rows = ["client,reference,due_on,line,unit_price"]
    for n in range(BILLS):
        price = f"{10 + n % 90}.{n % 100:02d}"
        rows.append(f"{clients[n % CLIENTS]['id']},F-{n},2030-01-31,Lesson,{price}")
    for start in range(1, len(rows), 5_000):
        data = "\n".join([rows[0], *rows[start : start + 5_000]]).encode()
        r = await t.api.post("/api/v1/bills/import", content=data,
                             headers={"Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 201, r.text[:300]


async def _progress(t: Tenant, run_id: str) -> dict:
    r = await t.api.get(f"/api/v1/payment-runs/{run_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _until(t: Tenant, run_id: str, done: int | None, *, within: float) -> dict:
    """The run's progress once ``done`` bills are done (None: once it is no longer running)."""
    deadline = time.monotonic() + within
    while True:
        run = await _progress(t, run_id)
        if (run["done"] >= done) if done is not None else run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"the run did not get there in {within} s: {run}"
        await asyncio.sleep(0.5)


async def test_a_run_over_three_workers_one_killed_charges_every_bill_once(
    ctx: Context, settings: Settings, tenant: Tenant, tmp_path: Path
) -> None:
    if not is_postgres(settings.database_url):
        pytest.skip("worker processes share a run through PostgreSQL (procrastinate)")
    clients = [await tenant.client(f"C{n}", number=DECLINES if n % 10 == 9 else
                                   "4242424242424242") for n in range(CLIENTS)]  # fmt: skip
    await _import(tenant, clients)
    queue = f"faults-{uuid.uuid4().hex[:10]}"
    env = {
        "FAREROOM_DATABASE_URL": settings.database_url,
        "FAREROOM_JOBS_QUEUE": queue,
        "FAREROOM_SANDBOX_FAULTS": FAULTS,
        "FAREROOM_SANDBOX_RATE_LIMIT": "150",
        "FAREROOM_GATEWAY_RATE_LIMIT": "165",
        "FAREROOM_GATEWAY_RETRIES": "3",
        "FAREROOM_SECRET_KEY": "test-secret",
        "FAREROOM_METER_TICK_SECONDS": "30",
    }
    # the run's jobs go to the workers' queue (the API defers them through ctx.jobs)
    suite_jobs, ctx.jobs = ctx.jobs, jobs_for(settings.model_copy(update={"jobs_queue": queue}))
    workers: list[FareroomWorker] = []
    logs: list[str] = []
    try:
        r = await tenant.api.post("/api/v1/payment-runs", json={})
        assert r.status_code == 201 and r.json()["bills"] == BILLS, r.text
        run_id = r.json()["id"]
        workers = [FareroomWorker(env, str(tmp_path / f"worker{n}.log")) for n in range(3)]
        await _until(tenant, run_id, BILLS // 3, within=600)
        workers[0].kill()
        stopped = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/stop")
        assert stopped.status_code == 200, stopped.text
        await asyncio.sleep(2)  # the jobs at work finish the bill in hand
        paused = await _progress(tenant, run_id)
        assert paused["status"] == "stopped" and 0 < paused["done"] < BILLS
        for _ in range(6):  # again, and again for bills the gateway stayed away for
            again = await tenant.api.post(f"/api/v1/payment-runs/{run_id}/run-again")
            assert again.status_code == 200, again.text
            run = await _until(tenant, run_id, None, within=900)
            if "gateway_unavailable" not in run["failures"]:
                break
        logs = [w.stop() for w in workers[1:]]
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.stop()
        await ctx.jobs.close()
        ctx.jobs = suite_jobs
    assert run["status"] == "finished", (run, [log[-2000:] for log in logs])
    assert run["counts"].get("pending", 0) == 0
    declining = {c["id"] for c in clients[9::10]}
    async with ctx.unit_of_work() as s:
        items = (await s.session.execute(
            select(RunItem.status, RunItem.reason, Bill.status, Bill.client_id, Bill.id)
            .join(Bill, Bill.id == RunItem.bill_id).where(RunItem.run_id == run_id)
        )).all()  # fmt: skip
        errors = dict((await s.session.execute(
            select(GatewayRequest.error_code, func.count())
            .where(GatewayRequest.business_id == tenant.id,
                   GatewayRequest.operation == "create_charge")
            .group_by(GatewayRequest.error_code))).all())  # fmt: skip
        attempts = dict((await s.session.execute(
            select(BillAttempt.bill_id, func.count()).where(BillAttempt.business_id == tenant.id)
            .group_by(BillAttempt.bill_id))).all())  # fmt: skip
    assert len(items) == BILLS
    # the faults happened: timeouts (lost answers among them) and 429s, retried
    assert errors.get("timeout", 0) > 0 and errors.get("rate_limit", 0) > 0, errors
    for item_status, reason, bill_status, client_id, bill_id in items:
        if client_id in declining:
            assert (item_status, reason, bill_status) == ("failed", "declined", "unsettled")
        else:
            assert (item_status, bill_status) == ("paid", "paid"), (bill_id, reason)
        assert attempts[bill_id] == 1  # one attempt each: every retry asked the same
    charges = await ctx.sandbox.charges(business_id=tenant.id)  # type: ignore[union-attr]
    per_bill = Counter(c["metadata"]["reference"].rsplit("_", 1)[0] for c in charges)
    paid = sum(1 for i in items if i[0] == "paid")
    assert len(charges) == paid == BILLS - BILLS // 10
    assert set(per_bill.values()) == {1}
    print(
        f"\n{BILLS} bills: {paid} paid, {BILLS - paid} declined; {len(charges)} charges; "
        f"failures {run['failures']}"
    )
