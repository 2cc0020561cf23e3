"""Shared set-up for the benchmarks: fresh databases on PostgreSQL and SQLite, migrated."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fareroom.cli import migrate  # noqa: E402

PG_ADMIN = os.environ.get("FAREROOM_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _recreate_pg(name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def fresh_databases(tag: str) -> dict[str, str]:
    """{"postgresql": url, "sqlite": url}, each migrated and empty. PostgreSQL is skipped
    (with a note) when it does not answer. ``FAREROOM_BENCH_DATABASES=sqlite`` (or
    ``postgresql``) measures one only."""
    wanted = os.environ.get("FAREROOM_BENCH_DATABASES", "postgresql,sqlite").split(",")
    urls: dict[str, str] = {}
    if "postgresql" in wanted:
        try:
            urls["postgresql"] = asyncio.run(_recreate_pg(f"fareroom_bench_{tag}"))
        except OSError as exc:
            print(f"# PostgreSQL not reachable ({exc}); measuring SQLite only")
    if "sqlite" in wanted:
        folder = tempfile.mkdtemp(prefix=f"fareroom-bench-{tag}-")
        urls["sqlite"] = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
    for url in urls.values():
        migrate(url)
    return urls


async def _settle(url: str) -> None:
    from sqlalchemy import text

    from fareroom.kit.db import create_engine

    engine = create_engine(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    await engine.dispose()
    if not url.startswith("postgresql"):
        # Outside any transaction (our engine begins every one); PASSIVE copies what it can
        # without waiting for the server's open connections.
        with sqlite3.connect(url.split("///", 1)[1]) as raw:
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)")


async def settled(url: str) -> None:
    """Bring a database to a steady state before a figure (statistics fresh, no vacuum or
    WAL checkpoint pending), so figures taken at different sizes compare like with like."""
    from fareroom.bootstrap import sandbox_database_url

    for target in dict.fromkeys([url, sandbox_database_url(url)]):
        await _settle(target)


def settle(url: str) -> None:
    asyncio.run(settled(url))


async def run_for(seconds: float, workers: int, op: Callable[[int, int], Awaitable[None]]
                  ) -> tuple[int, float]:  # fmt: skip
    """Run ``op(worker, i)`` in ``workers`` concurrent loops for ``seconds``; (count, elapsed)."""
    stop = time.perf_counter() + seconds
    counts = [0] * workers

    async def loop(w: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            await op(w, i)
            i += 1
        counts[w] = i

    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return sum(counts), time.perf_counter() - start


def median_time(samples: list[float]) -> float:
    return statistics.median(samples)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
