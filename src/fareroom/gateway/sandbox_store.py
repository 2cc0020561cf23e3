"""The sandbox gateway's store: Stripe-like objects as JSON in ``sandbox_objects`` (its own
table, in its own database on SQLite), read and written on the driver's connection.

The sandbox is on the path of every payment, and its statements are few, simple and its
own: SQLAlchemy's path from a statement to the driver cost several times the database's
work, so they are written once per dialect here (``kit.db.driver_transaction``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fareroom.kit.clock import Clock
from fareroom.kit.db import StatementCount, driver_time

_COLUMNS = "id, kind, data, amount, created_at"


class _Dialect:
    """The store's statements for one database."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"
        if self.sqlite:
            self.add = f"INSERT INTO sandbox_objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            self.put = "UPDATE sandbox_objects SET kind = ?, data = ?, amount = ? WHERE id = ?"
            self.of_kind = "SELECT data FROM sandbox_objects WHERE kind = ? ORDER BY id LIMIT ?"
        else:
            self.add = f"INSERT INTO sandbox_objects ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            self.put = "UPDATE sandbox_objects SET kind = $1, data = $2, amount = $3 WHERE id = $4"
            self.get = "SELECT id, kind, data FROM sandbox_objects WHERE id = ANY($1::varchar[])"
            self.of_kind = "SELECT data FROM sandbox_objects WHERE kind = $1 ORDER BY id LIMIT $2"

    def when(self, at: datetime) -> Any:
        return driver_time(at, "sqlite" if self.sqlite else "postgresql")


_DIALECTS = {name: _Dialect(name) for name in ("sqlite", "postgresql")}


class SandboxStore:
    """One of the sandbox's own transactions (never the caller's), in few round trips.

    ``load`` reads every object an operation needs in one query; ``add`` and ``put`` are
    kept until ``flush``, which writes them as one statement each just before the commit.
    An operation's reads all come before its writes, so nothing reads what is unwritten.
    ``raw`` is the driver's connection (aiosqlite's or asyncpg's) in that transaction;
    ``counted`` the benchmarks' count of statements, if any.
    """

    def __init__(self, raw: Any, dialect: str, clock: Clock,
                 counted: StatementCount | None = None) -> None:  # fmt: skip
        self.raw = raw
        self.clock = clock
        self._counted = counted
        self._sql = _DIALECTS[dialect]
        self._read: dict[str, tuple[str, str] | None] = {}
        self._adds: list[tuple[Any, ...]] = []
        self._puts: list[tuple[Any, ...]] = []

    async def load(self, ids: list[str], *, lock: bool = False) -> None:
        """Read these objects (locking them with ``lock``: on SQLite the transaction holds
        the database's write lock already); later ``get``s use what was read."""
        if self._sql.sqlite:
            marks = ", ".join("?" * len(ids))
            sql = f"SELECT id, kind, data FROM sandbox_objects WHERE id IN ({marks})"
            async with self.raw.execute(sql, ids) as cursor:
                rows = await cursor.fetchall()
        else:
            rows = await self.raw.fetch(self._sql.get + (" FOR UPDATE" if lock else ""), ids)
        self._count()
        found = {row[0]: (row[1], row[2]) for row in rows}
        for obj_id in ids:
            self._read[obj_id] = found.get(obj_id)

    async def first_of_kind(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` objects of ``kind``, in id order."""
        if self._sql.sqlite:
            async with self.raw.execute(self._sql.of_kind, (kind, limit)) as cursor:
                rows = await cursor.fetchall()
        else:
            rows = await self.raw.fetch(self._sql.of_kind, kind, limit)
        self._count()
        return [json.loads(row[0]) for row in rows]

    async def get(self, kind: str, obj_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        if obj_id not in self._read:
            await self.load([obj_id], lock=lock)
        found = self._read[obj_id]
        return json.loads(found[1]) if found is not None and found[0] == kind else None

    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (its id is new) at the flush."""
        self._adds.append((obj["id"], kind, json.dumps(obj, sort_keys=True),
                           obj.get("amount", 0), self._sql.when(self.clock.now())))  # fmt: skip
        return obj

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace a stored object (and possibly its kind) at the flush."""
        self._puts.append((kind, json.dumps(obj, sort_keys=True), obj.get("amount", 0),
                           obj["id"]))  # fmt: skip
        return obj

    async def flush(self) -> None:
        for sql, rows in ((self._sql.put, self._puts), (self._sql.add, self._adds)):
            if not rows:
                continue
            if self._sql.sqlite:
                await (await self.raw.executemany(sql, rows)).close()
            else:
                await self.raw.executemany(sql, rows)
            self._count()
        self._puts, self._adds = [], []

    def _count(self) -> None:
        if self._counted is not None:
            self._counted.statements += 1
