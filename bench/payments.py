"""The payment flow through Fareroom's HTTP API, beside the same flow through localstripe.

One flow = create a client, register a card, hold, capture, partial refund, read the
payment: the six calls of issue 2, plus the card tokenisation that both sides need (Fareroom:
POST /sandbox/tokens, standing in for Stripe.js; localstripe: POST /v1/payment_methods).
Both servers run as their own process on 127.0.0.1, measured in this run with the same
client concurrency. Figures, for each database:

1. flows/s on a fresh store, Fareroom and localstripe (disk save off);
2. flows/s after 5 000 clients exist in each;
3. Fareroom's flows/s after 100 000 payments exist (seeded in bulk, with their ledger
   entries, gateway log rows and sandbox objects), against a fresh store's;
4. Fareroom's flows/s when every POST carries an Idempotency-Key, against without.

Fareroom runs two servers: one on a fresh database, one on the database that grows to 5 000
clients and 100 000 payments. Each ratio compares two rates measured in alternating slices
(see ``compare``); before a figure the databases are settled (``common.settle``: statistics,
vacuum, WAL checkpoint), so figures at different sizes are taken in like conditions.

Targets: (1) >= 1x localstripe; (2) >= 10x; (3) >= 0.9x start; (4) cost <= 15 %; and server
CPU per flow on a fresh store <= 8 ms. Beside each Fareroom figure's CPU it prints the flow's
floor (``floor.py``): what its 7 requests, its transactions and its statements cost on this
machine with no application logic, measured in the same run; no change of code can take the
CPU per flow below it without taking requests, transactions or statements out of the flow.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from common import (
    ROOT,
    CpuMeter,
    Rate,
    alternate,
    fresh_databases,
    pg_backends,
    settle,
    verdict,
)

sys.path.insert(0, str(ROOT))
from tests.support.servers import LocalStripe, free_port, wait_http  # noqa: E402

from floor import DbFloor, db_floor  # noqa: E402

CONCURRENCY = 8
# Server processes (FAREROOM_BENCH_WORKERS); 1 unless asked: the targets are for one process.
WORKERS = int(os.environ.get("FAREROOM_BENCH_WORKERS", "1"))
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0  # per side and figure
SLICES = int(os.environ.get("FAREROOM_BENCH_SLICES", "8"))
# Fareroom's flow: 7 requests, of which 5 write (client, card, hold, capture, refund) and so
# commit a transaction that waits for the disk; the others' do not (the GET's, the sandbox's).
FLOW_REQUESTS = 7
FLOW_DURABLE = 5
LS_AUTH = {"Authorization": "Bearer sk_test_bench"}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


class Fareroom:
    def __init__(self, url: str) -> None:
        # One address (this one) makes every card token: Stripe.js's limit per address would
        # stop the load after 30. A side's connections stay idle while the other side runs
        # its slice (seconds on a busy machine): the 5-s keep-alive would close them.
        self.env = {**os.environ, "FAREROOM_DATABASE_URL": url, "FAREROOM_BENCH_COUNTERS": "1",
                    "FAREROOM_LIMIT_SANDBOX_TOKENS_ADDRESS": "1000000000/60",
                    "FAREROOM_HTTP_KEEP_ALIVE_SECONDS": "300"}  # fmt: skip
        self.database = url.rsplit("/", 1)[1] if url.startswith("postgresql") else None
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "fareroom",
                "create-business",
                "Bench",
                "--owner-email",
                f"bench-{uuid.uuid4().hex}@example.com",
                "--owner-password",
                "bench password",
                "--json",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        info = json.loads(made.stdout)
        self.business_id, key = info["business_id"], info["api_key"]
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fareroom",
                "serve",
                "--port",
                str(self.port),
                "--no-worker",
                "--quiet",
                "--workers",
                str(WORKERS),
            ],
            env=self.env,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{self.base}/healthz", proc=self.proc, timeout=120)  # a busy machine
        self.headers = {"Authorization": f"Bearer {key}"}

    def pids(self) -> list[int]:
        """The server's processes (uvicorn's workers too) and, on PostgreSQL, the backends
        serving its database (which is its own: the sandbox's store is in it too)."""
        pids = [self.proc.pid]
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            pids += [int(p) for p in task.read_text().split()]
        return pids + (pg_backends(self.database) if self.database else [])

    def side(self, *, keys: bool = False, floor: Floor | None = None) -> Side:
        return Side(self.base, self.headers, fareroom_flow, CpuMeter(self.pids), keys=keys,
                    counted=True, floor=floor)  # fmt: skip

    def requests_side(self) -> Side:
        """FLOW_REQUESTS requests that do nothing (``GET /healthz``) as one "flow": what the
        HTTP path alone costs per flow."""
        return Side(self.base, self.headers, healthz_flow, CpuMeter(self.pids))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    """One request; its JSON answer. Anything but a 2xx stops the benchmark."""
    async with http.request(method, path, **kw) as r:
        body = await r.json(content_type=None)
        assert r.status < 300, (method, path, r.status, body)
        return body


async def fareroom_flow(http: aiohttp.ClientSession, *, keys: bool) -> None:
    def k() -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex} if keys else {}

    body = {"name": "B", "email": "b@example.com"}
    client = (await call(http, "POST", "/api/v1/clients", json=body, headers=k()))["id"]
    token = (await call(http, "POST", "/sandbox/tokens", json=CARD))["id"]
    await call(http, "POST", f"/api/v1/clients/{client}/cards", json={"token": token},
               headers=k())  # fmt: skip
    body = {"client_id": client, "amount": 10_000, "currency": "EUR", "capture": False}
    pay = (await call(http, "POST", "/api/v1/payments", json=body, headers=k()))["id"]
    await call(http, "POST", f"/api/v1/payments/{pay}/capture", json={"amount": 8_000},
               headers=k())  # fmt: skip
    await call(http, "POST", f"/api/v1/payments/{pay}/refunds", json={"amount": 1_000},
               headers=k())  # fmt: skip
    payment = await call(http, "GET", f"/api/v1/payments/{pay}")
    assert payment["amount_refunded"] == 1_000, payment


async def healthz_flow(http: aiohttp.ClientSession) -> None:
    for _ in range(FLOW_REQUESTS):
        await call(http, "GET", "/healthz")


async def localstripe_flow(http: aiohttp.ClientSession) -> None:
    customer = (await call(http, "POST", "/v1/customers", data={"email": "b@example.com"}))["id"]
    card = {"type": "card", **{f"card[{k}]": str(v) for k, v in CARD.items()}}
    pm = (await call(http, "POST", "/v1/payment_methods", data=card))["id"]
    await call(http, "POST", f"/v1/payment_methods/{pm}/attach", data={"customer": customer})
    intent = {"amount": "10000", "currency": "eur", "customer": customer,
              "payment_method": pm, "confirm": "true", "capture_method": "manual"}  # fmt: skip
    pi = (await call(http, "POST", "/v1/payment_intents", data=intent))["id"]
    await call(http, "POST", f"/v1/payment_intents/{pi}/capture",
               data={"amount_to_capture": "8000"})  # fmt: skip
    await call(http, "POST", "/v1/refunds", data={"payment_intent": pi, "amount": "1000"})
    intent = await call(http, "GET", f"/v1/payment_intents/{pi}")
    assert intent["status"] == "succeeded", intent


def session(base: str, headers: dict[str, str]) -> aiohttp.ClientSession:
    """The load generator: aiohttp, CONCURRENCY keep-alive connections. It shares the two
    cores with the servers, so a cheap client (httpx cost each flow about three times as
    much CPU) leaves more of the machine to what is measured."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    return aiohttp.ClientSession(base, headers=headers, connector=connector, timeout=timeout)


@dataclass(frozen=True)
class Floor:
    """The least CPU a flow's requests, transactions and statements cost here (``floor``)."""

    db: DbFloor
    request_ms: float  # one request that does nothing, through the same server

    def of(self, statements: float, commits: float) -> float:
        return self.db.of(FLOW_REQUESTS, self.request_ms, commits, FLOW_DURABLE, statements)


class Side(Rate):
    """One side of a comparison: a server, the flow it runs, and what was counted: flows
    (``count``), seconds, the server's CPU (``cpu``) and, for Fareroom (``counted``), the
    statements and commits it sent to its databases (``GET /_bench/counters``)."""

    def __init__(
        self,
        base: str,
        headers: dict[str, str],
        flow: Callable[..., Awaitable[None]],
        cpu: CpuMeter,
        *,
        keys: bool | None = None,
        counted: bool = False,
        floor: Floor | None = None,
    ) -> None:
        super().__init__(self._flow, CONCURRENCY)
        self.base, self.headers, self.flow, self.cpu = base, headers, flow, cpu
        self.keys, self.counted, self.floor = keys, counted, floor
        self.sql = {"statements": 0, "commits": 0}
        self.http: aiohttp.ClientSession | None = None

    async def _flow(self, w: int, i: int) -> None:
        assert self.http is not None
        await self.flow(self.http, **({} if self.keys is None else {"keys": self.keys}))

    async def counters(self) -> dict[str, int]:
        assert self.http is not None
        return await call(self.http, "GET", "/_bench/counters") if self.counted else self.sql

    async def run(self, seconds: float) -> None:
        before = await self.counters()
        self.cpu.start()
        await super().run(seconds)
        self.cpu.stop()
        after = await self.counters()
        if self.counted:
            for name in self.sql:
                self.sql[name] += after[name] - before[name]

    def reset(self) -> None:
        super().reset()
        self.cpu.ns = 0
        self.sql = dict.fromkeys(self.sql, 0)

    @property
    def cpu_ms(self) -> float:
        return self.cpu.ns / 1e6 / self.count

    def costs(self) -> str:
        """Server CPU per flow, and (for Fareroom) statements and commits per flow, and the
        floor under them."""
        cpu = f"CPU {self.cpu_ms:5.2f} ms/flow"
        if not self.counted:
            return cpu
        per = {name: n / self.count for name, n in self.sql.items()}
        line = f"{cpu}, {per['statements']:4.1f} statements, {per['commits']:3.1f} commits"
        if self.floor is None:
            return line
        return f"{line}; floor {self.floor.of(per['statements'], per['commits']):5.2f} ms"


async def _compare(sides: list[Side]) -> None:
    async with AsyncExitStack() as stack:
        for side in sides:
            side.http = await stack.enter_async_context(session(side.base, side.headers))
        await alternate(sides, SECONDS, SLICES)


def compare(*sides: Side) -> tuple[Side, ...]:
    """The sides, measured in SLICES alternating slices (``common.alternate``)."""
    asyncio.run(_compare(list(sides)))
    return sides


async def add_clients(base: str, headers: dict[str, str], path: str, n: int,
                      form: bool) -> None:  # fmt: skip
    async with session(base, headers) as http:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with sem:
                body = {"name": f"c{i}", "email": f"c{i}@example.com"}
                await (call(http, "POST", path, data=body) if form
                       else call(http, "POST", path, json=body))  # fmt: skip

        await asyncio.gather(*(one(i) for i in range(n)))


def seed_payments(url: str, business_id: str, n: int) -> None:
    """Bulk-insert ``n`` captured payments for the business, with what a real payment leaves
    behind: a ledger transfer and its entries, gateway log rows, sandbox charge objects."""
    from seed import seed

    asyncio.run(seed(url, business_id, n))


def stripe_side(ls: LocalStripe) -> Side:
    pid = ls.proc.pid
    return Side(ls.url, LS_AUTH, localstripe_flow, CpuMeter(lambda: [pid]))


def _line(label: str, ours: Side, theirs: Side, name: str, target: str,
          met: Callable[[float], bool]) -> str:  # fmt: skip
    ratio = ours.rate / theirs.rate
    return (
        f"  {label}: Fareroom {ours.rate:7.1f} flows/s, {name} {theirs.rate:7.1f}  ratio "
        f"{ratio:5.2f}  (target {target}: {verdict(met(ratio))})\n"
        f"      Fareroom: {ours.costs()}\n      {name}: {theirs.costs()}"
    )


def main() -> None:
    print(
        f"# bench/payments.py: {CONCURRENCY} concurrent clients, {SECONDS:.0f} s per side and"
        f" figure in {SLICES} alternating slices; one flow = 7 HTTP calls on each side.\n"
        "# CPU: the server's processes (and on PostgreSQL the backends serving its database),"
        " from the kernel's per-process CPU clocks; statements: cursor executions counted in"
        " the server (SQLite's BEGIN IMMEDIATE included), commits: transactions committed"
    )
    seeded_urls = fresh_databases("payments_seeded")
    for kind, url in fresh_databases("payments").items():
        ls = LocalStripe(save=False)
        fresh, seeded = Fareroom(url), Fareroom(seeded_urls[kind])

        try:
            settle(url)
            (requests,) = compare(fresh.requests_side())
            floor = Floor(db_floor(url), requests.cpu_ms / FLOW_REQUESTS)
            ls_fresh, fr_fresh = compare(stripe_side(ls), fresh.side(floor=floor))
            asyncio.run(add_clients(ls.url, LS_AUTH, "/v1/customers", 5_000, True))
            asyncio.run(add_clients(seeded.base, seeded.headers, "/api/v1/clients", 5_000, False))
            settle(seeded_urls[kind])
            ls_5k, fr_5k = compare(stripe_side(ls), seeded.side(floor=floor))
            seed_payments(seeded_urls[kind], seeded.business_id, 100_000)
            settle(seeded_urls[kind])
            settle(url)
            fr_start, fr_100k = compare(fresh.side(floor=floor), seeded.side(floor=floor))
            fr_nokeys, fr_keys = compare(
                seeded.side(floor=floor), seeded.side(keys=True, floor=floor)
            )
        finally:
            ls.stop()
            fresh.stop()
            seeded.stop()
        print(f"\n[{kind}]")
        db = floor.db
        print(
            f"  floor: a request that does nothing {floor.request_ms:.3f} ms; a transaction of "
            f"one INSERT {db.durable_ms:.3f} ms (commit waits for the disk), {db.fast_ms:.3f}"
            f" ms (does not); one more statement {db.statement_ms:.3f} ms"
        )
        print(_line("fresh store        ", fr_fresh, ls_fresh, "localstripe", ">= 1",
                    lambda r: r >= 1))  # fmt: skip
        print(
            f"  CPU per flow on a fresh store: {fr_fresh.cpu_ms:5.2f} ms (target <= 8 ms: "
            f"{verdict(fr_fresh.cpu_ms <= 8)})"
        )
        print(_line("after 5 000 clients", fr_5k, ls_5k, "localstripe", ">= 10",
                    lambda r: r >= 10))  # fmt: skip
        print(_line("after 100 000 payments", fr_100k, fr_start, "a fresh store", ">= 0.9",
                    lambda r: r >= 0.9))  # fmt: skip
        cost = 1 - fr_keys.rate / fr_nokeys.rate
        print(
            f"  with Idempotency-Key: {fr_keys.rate:7.1f} flows/s vs {fr_nokeys.rate:7.1f} "
            f"without: cost {cost * 100:4.1f} %  (target <= 15 %: {verdict(cost <= 0.15)})\n"
            f"      with: {fr_keys.costs()}\n      without: {fr_nokeys.costs()}"
        )


if __name__ == "__main__":
    main()
