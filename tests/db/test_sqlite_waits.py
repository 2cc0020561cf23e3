"""SQLite's statements run on the event loop's thread (kit.db._InlineSqlite), but what may
wait for another process waits in aiosqlite's thread: the loop stays free meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

from fareroom.kit.db import create_engine, driver_transaction, session_factory, transaction


async def test_a_writer_waits_for_another_processes_lock_without_holding_up_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "waits.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)  # another process's writer
        other.execute("BEGIN IMMEDIATE")

        async def write(v: int) -> None:
            async with transaction(session_factory(engine)) as session:
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": v})

        async def write_raw(v: int) -> None:
            async with driver_transaction(engine) as raw:
                await (await raw.execute("INSERT INTO t (v) VALUES (?)", (v,))).close()

        writing = asyncio.create_task(write(1))
        ticks = 0
        for _ in range(10):  # the loop goes on while the writer waits for the lock
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 10 and not writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 10)
        other.execute("BEGIN IMMEDIATE")
        raw_writing = asyncio.create_task(write_raw(2))
        await asyncio.sleep(0.1)
        assert not raw_writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(raw_writing, 10)
        other.close()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
        assert rows == [1, 2]
    finally:
        await engine.dispose()


async def test_only_a_commit_with_something_to_write_waits_in_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A durable commit waits for the disk in aiosqlite's thread; a transaction that changed
    no row has nothing to write, and commits on the loop's thread."""
    threaded: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        threaded.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'commits.sqlite3'}")
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER PRIMARY KEY)"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
        async with transaction(sessions) as session:  # a read
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        async with transaction(sessions) as session:  # a write that finds nothing to do
            await session.execute(text("UPDATE t SET v = v + 1 WHERE v < 0"))
        assert threaded == []
        async with transaction(sessions) as session:  # a write
            await session.execute(text("INSERT INTO t (v) VALUES (1)"))
        assert threaded == ["commit"]
        async with transaction(sessions) as session:  # and a read after it
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        assert threaded == ["commit"]
    finally:
        monkeypatch.undo()
        await engine.dispose()
