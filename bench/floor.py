"""The floor under a flow's server CPU: what its requests, transactions and statements cost
on this machine with no application logic at all.

``bench/payments.py`` prints it beside each Fareroom figure, so a target for the CPU per
flow can be judged against what the flow's work costs at the least:

- an HTTP request: ``GET /healthz`` through the same ``fareroom serve`` process (uvicorn,
  httptools, our middleware, FastAPI's routing; no database), CPU per request;
- a transaction: ``BEGIN``, one ``INSERT`` of a short row, ``COMMIT``, on the driver's own
  connection (``kit.db.driver_transaction``: no SQLAlchemy), one writer after another; for
  commits that wait for the disk (ours) and commits that do not (the sandbox's);
- a statement: one more ``INSERT`` inside such a transaction.

CPU is this process's (``time.process_time``) plus, on PostgreSQL, the backends serving the
database. The floor of a flow with R requests, T transactions (of which D durable) and S
statements (BEGIN counted where the server counts it: SQLite's ``BEGIN IMMEDIATE``) is
``R × request + D × durable + (T - D) × fast + (S - T × per_tx) × statement``, where
``per_tx`` is the statements a transaction's own BEGIN and first INSERT make in that count.
It is a lower bound: no parsing, validation, ORM, fees, ids or JSON, one connection.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

from common import CpuMeter, pg_backends
from fareroom.kit.db import create_engine, driver_transaction

ROWS = 2_000


@dataclass(frozen=True)
class DbFloor:
    durable_ms: float  # a transaction of one INSERT whose commit waits for the disk
    fast_ms: float  # the same, commit not waiting (the sandbox's store)
    statement_ms: float  # one more INSERT in a transaction
    sqlite: bool

    def of(self, requests: int, request_ms: float, transactions: float, durable: float,
           statements: float) -> float:  # fmt: skip
        """The floor of a flow, in ms (see the module's docstring)."""
        per_tx = 2 if self.sqlite else 1  # BEGIN IMMEDIATE is counted on SQLite only
        extra = max(0.0, statements - transactions * per_tx)
        return (requests * request_ms + durable * self.durable_ms
                + (transactions - durable) * self.fast_ms + extra * self.statement_ms)  # fmt: skip


async def _per_tx(url: str, *, durable: bool, inserts: int) -> float:
    """CPU ms per transaction of ``inserts`` INSERTs into a scratch table."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, durable=durable)
    marks = "?, ?" if sqlite else "$1, $2"
    ids = itertools.count()
    database = None if sqlite else url.rsplit("/", 1)[1]
    backends = CpuMeter(lambda: pg_backends(database) if database else [])
    insert = f"INSERT INTO bench_floor (id, v) VALUES ({marks})"

    async def run(raw: Any, sql: str, *args: str) -> None:
        if sqlite:
            await (await raw.execute(sql, args)).close()
        else:
            await raw.execute(sql, *args)

    async def one() -> None:
        async with driver_transaction(engine) as raw:
            for _ in range(inserts):
                await run(raw, insert, f"floor_{next(ids)}", "floor")

    try:
        async with driver_transaction(engine, single=True) as raw:
            await run(
                raw, "CREATE TABLE IF NOT EXISTS bench_floor (id VARCHAR(40) PRIMARY KEY, v TEXT)"
            )

        for _ in range(100):  # warm: the pool's connection, the driver's statement cache
            await one()
        backends.start()
        cpu = time.process_time()
        for _ in range(ROWS):
            await one()
        cpu = time.process_time() - cpu
        backends.stop()
        async with driver_transaction(engine, single=True) as raw:
            await run(raw, "DROP TABLE bench_floor")
        return (cpu * 1e3 + backends.ns / 1e6) / ROWS
    finally:
        await engine.dispose()


async def _db_floor(url: str) -> DbFloor:
    durable = await _per_tx(url, durable=True, inserts=1)
    fast = await _per_tx(url, durable=False, inserts=1)
    more = await _per_tx(url, durable=False, inserts=11)
    return DbFloor(durable, fast, (more - fast) / 10, url.startswith("sqlite"))


def db_floor(url: str) -> DbFloor:
    return asyncio.run(_db_floor(url))
