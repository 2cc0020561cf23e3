"""Benchmark: a payment run against the sandbox set to Stripe's live rate limit.

A run of ``FAREROOM_BENCH_RUN_BILLS`` bills (20 000 by default) on PostgreSQL, charged by
1 and then by 3 ``fareroom worker`` processes, against the sandbox answering 429 above
``LIMIT`` requests per second (100, Stripe's live limit; ``FAREROOM_BENCH_RUN_LIMIT``).
The workers pace themselves with the token bucket they share (``gateway_rate_limit`` set to
the same limit).

For each, from the gateway request log (every request, refused ones included) and the
sandbox's own charges:

- the share of the limit used: charges the sandbox accepted per second, from the run's
  first request to its last, over the limit (target >= 95 %);
- duplicates: charges beyond one per paid bill (target 0);
- 429s received, as a share of all requests (target < 1 %);
- CPU per bill: the workers' and PostgreSQL's backends' CPU over the run, per bill.

    .venv/bin/python bench/runs.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, CpuMeter, fresh_databases, pg_backends, verdict

BILLS = int(os.environ.get("FAREROOM_BENCH_RUN_BILLS", "20000"))
LIMIT = float(os.environ.get("FAREROOM_BENCH_RUN_LIMIT", "100"))
CLIENTS = 200


async def _prepare(url: str, queue: str) -> tuple[Any, str, str]:
    """A business with clients and BILLS bills, and a run of them started on ``queue``."""
    from fareroom.billing.runs import Criteria
    from fareroom.bootstrap import bootstrap, jobs_for
    from fareroom.config import Settings

    settings = Settings(_env_file=None, database_url=url, jobs_queue=queue)  # type: ignore[call-arg]
    ctx = bootstrap(settings)
    ctx.jobs = jobs_for(settings)
    async with ctx.unit_of_work() as s:
        made = await s.accounts.create_business(
            name="Runs bench", owner_email=f"{queue}@b.test", owner_password="correct horse battery"
        )
    biz_id = made.business.id
    clients = []
    for n in range(CLIENTS):
        async with ctx.unit_of_work(biz_id) as s:
            client = await s.clients.create(biz_id, name=f"Client {n}", email=f"c{n}@b.test")
            assert ctx.sandbox is not None
            token = await ctx.sandbox.tokenize(number="4242424242424242", exp_month=12,
                                               exp_year=2035)  # fmt: skip
            await s.clients.add_card(biz_id, client.id, token=token)
            clients.append(client.id)
    header = "client,reference,due_on,line,unit_price"
    rows = [
        f"{clients[n % CLIENTS]},R-{n},2030-01-31,Lesson,{20 + n % 80}.00" for n in range(BILLS)
    ]
    for start in range(0, BILLS, 5_000):
        async with ctx.unit_of_work(biz_id) as s:
            biz = await s.payments.business(biz_id)
            await s.bills.import_csv(
                biz, "\n".join([header, *rows[start : start + 5_000]]).encode()
            )
    async with ctx.unit_of_work(biz_id) as s:
        run = await s.runs.start(await s.payments.business(biz_id), Criteria())
    return ctx, biz_id, run.id


async def _status(ctx: Any, biz_id: str, run_id: str) -> tuple[str, int]:
    async with ctx.unit_of_work() as s:
        found = await s.runs.progress(biz_id, run_id)
    return found.run.status, found.done


async def _figures(ctx: Any, biz_id: str, run_id: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from fareroom.models.billing import RunItem
    from fareroom.models.gateway import GatewayRequest

    async with ctx.unit_of_work() as s:
        rows = (await s.session.execute(
            select(GatewayRequest.error_code, func.count(), func.min(GatewayRequest.created_at),
                   func.max(GatewayRequest.created_at))
            .where(GatewayRequest.business_id == biz_id,
                   GatewayRequest.operation == "create_charge")
            .group_by(GatewayRequest.error_code))).all()  # fmt: skip
        paid = await s.session.scalar(select(func.count()).where(
            RunItem.run_id == run_id, RunItem.status == "paid"))  # fmt: skip
    requests = sum(r[1] for r in rows)
    refused = sum(r[1] for r in rows if r[0] == "rate_limit")
    first, last = min(r[2] for r in rows), max(r[3] for r in rows)
    charges = await ctx.sandbox.charges(business_id=biz_id)
    per_bill = Counter(c["metadata"]["reference"].rsplit("_", 1)[0] for c in charges)
    seconds = max((last - first).total_seconds(), 1e-9)
    return {"requests": requests, "refused": refused, "paid": paid, "charges": len(charges),
            "duplicates": len(charges) - len(per_bill) + (len(per_bill) - (paid or 0)),
            "seconds": seconds, "accepted_per_s": len(charges) / seconds}  # fmt: skip


def _workers(n: int, url: str, queue: str, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "FAREROOM_DATABASE_URL": url, "FAREROOM_JOBS_QUEUE": queue,
           "FAREROOM_SANDBOX_RATE_LIMIT": str(LIMIT), "FAREROOM_GATEWAY_RATE_LIMIT": str(LIMIT),
           "FAREROOM_WORKER_CONCURRENCY": os.environ.get("FAREROOM_BENCH_RUN_CONCURRENCY", "8"),
           "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    return [subprocess.Popen([sys.executable, "-m", "fareroom", "worker"], env=env,
                             stdout=subprocess.DEVNULL,
                             stderr=(logs / f"worker{i}.log").open("wb"))
            for i in range(n)]  # fmt: skip


async def measure(workers: int, url: str) -> dict[str, Any]:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    ctx, biz_id, run_id = await _prepare(url, queue)
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"fareroom-bench-runs-{workers}"
    logs.mkdir(exist_ok=True)
    database = url.rsplit("/", 1)[1]
    procs = _workers(workers, url, queue, logs)
    meter = CpuMeter(lambda: [p.pid for p in procs] + pg_backends(database))
    meter.start()
    started = time.monotonic()
    try:
        while True:
            status, _ = await _status(ctx, biz_id, run_id)
            if status != "running":
                break
            if time.monotonic() - started > BILLS / LIMIT * 3 + 120:
                raise RuntimeError(
                    f"the run is not finished after {time.monotonic() - started:.0f} s"
                )
            await asyncio.sleep(1)
        meter.stop()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    figures = await _figures(ctx, biz_id, run_id)
    figures["cpu_ms_per_bill"] = meter.ns / 1e6 / BILLS
    figures["workers"] = workers
    await ctx.jobs.close()
    await ctx.close()
    return figures


def main() -> None:
    os.environ.setdefault("FAREROOM_BENCH_DATABASES", "postgresql")
    print(
        f"# a run of {BILLS:,} bills against the sandbox at {LIMIT:.0f} requests/s "
        f"(429 above); PostgreSQL"
    )
    print(
        f"{'workers':>7} {'seconds':>8} {'charges/s':>9} {'of limit':>8} {'requests':>8} "
        f"{'429s':>6} {'429 %':>6} {'dupl.':>5} {'CPU ms/bill':>11}"
    )
    results = []
    for workers in (1, 3):
        f = asyncio.run(measure(workers, fresh_databases(f"runs{workers}")["postgresql"]))
        results.append(f)
        share = f["accepted_per_s"] / LIMIT
        print(
            f"{workers:>7} {f['seconds']:>8.1f} {f['accepted_per_s']:>9.1f} {share:>8.1%} "
            f"{f['requests']:>8} {f['refused']:>6} {f['refused'] / f['requests']:>6.2%} "
            f"{f['duplicates']:>5} {f['cpu_ms_per_bill']:>11.2f}",
            flush=True,
        )
    for f in results:
        share = f["accepted_per_s"] / LIMIT
        print(
            f"# {f['workers']} worker(s): share of the limit >= 95 %: {verdict(share >= 0.95)}; "
            f"duplicates 0: {verdict(f['duplicates'] == 0)}; "
            f"429s < 1 %: {verdict(f['refused'] / f['requests'] < 0.01)}; "
            f"every bill paid: {verdict(f['paid'] == BILLS == f['charges'])}"
        )


if __name__ == "__main__":
    main()
