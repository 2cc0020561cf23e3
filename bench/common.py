"""Shared set-up for the benchmarks: fresh databases on PostgreSQL and SQLite, migrated."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
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


class Rate:
    """One side of a comparison: ``op(worker, i)`` run by ``workers`` concurrent loops, its
    count and seconds summed over the slices it ran."""

    def __init__(self, op: Callable[[int, int], Awaitable[None]], workers: int) -> None:
        self.op, self.workers = op, workers
        self.count, self.seconds = 0, 0.0

    async def run(self, seconds: float) -> None:
        count, elapsed = await run_for(seconds, self.workers, self.op)
        self.count += count
        self.seconds += elapsed

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def alternate(sides: Sequence[Rate], seconds: float, slices: int) -> None:
    """Warm every side up (connections, caches), then run them in ``slices`` alternating
    slices of ``seconds / slices`` each: the machine's speed drifts by tens of percent over
    minutes (more on a shared one), and alternating spreads the drift evenly over the
    sides, so their ratios are fair ones."""
    for side in sides:
        await side.run(1.0)
        side.reset()
    for _ in range(slices):
        for side in sides:
            await side.run(seconds / slices)


_libc = ctypes.CDLL(None, use_errno=True)


def cpu_ns(pid: int) -> int | None:
    """CPU time (user + system, every thread, exited ones included) a process has used so
    far, in ns: the kernel's clock for that process (``clock_getcpuclockid``), exact where
    /proc's utime and stime count 10-ms ticks. None when the process is gone."""
    clock = ctypes.c_int()
    if _libc.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
        return None
    try:
        return time.clock_gettime_ns(clock.value)
    except OSError:  # it ended in between
        return None


def pg_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to ``database`` (on this
    machine; found by the process title, ``postgres: … user database host(port) state``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            found.append(int(proc.name))
    return found


class CpuMeter:
    """CPU used by a set of processes (which may change: database backends come and go)
    between ``start`` and ``stop``, in ns, summed over slices. A process that ended within
    a slice is not counted for it (its CPU cannot be read any more)."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self._pids = pids
        self._at_start: dict[int, int] = {}
        self.ns = 0

    def _read(self) -> dict[int, int]:
        return {pid: ns for pid in self._pids() if (ns := cpu_ns(pid)) is not None}

    def start(self) -> None:
        self._at_start = self._read()

    def stop(self) -> None:
        self.ns += sum(ns - self._at_start.get(pid, 0) for pid, ns in self._read().items())


def median_time(samples: list[float]) -> float:
    return statistics.median(samples)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
