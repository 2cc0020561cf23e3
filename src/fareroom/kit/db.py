"""Database base: declarative base, aware-UTC datetimes, engines for SQLite and PostgreSQL.

SQLite notes (the embedded default):
- WAL journal, ``busy_timeout`` and foreign keys are switched on for every connection;
- every transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
  writes can fail at once with SQLITE_BUSY when another writer committed in between, while an
  immediate one waits its turn under ``busy_timeout``. Writers are serialised either way;
- inside a transaction, statements run on the event loop's thread (``_InlineSqlite``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from weakref import WeakKeyDictionary

import aiosqlite
from sqlalchemy import ColumnElement, DateTime, Enum, MetaData, and_, event, or_, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

BUSY_SECONDS = 30  # how long a SQLite writer waits for another process's (busy_timeout)

# Where a sweep's page ends: the (time, id) of its last row.
Keyset = tuple[datetime, str]


def after_keyset(time_col: Any, id_col: Any, key: Keyset | None) -> ColumnElement[bool]:
    """The rows after ``key`` in (time, id) order (all rows when ``key`` is None).

    Sweeps read their rows a page at a time in this order, starting after the last row
    of the page before: rows that stay due (skipped, failed) never hold the others back."""
    if key is None:
        return true()
    at, row_id = key
    return or_(time_col > at, and_(time_col == at, id_col > row_id))


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def str_enum(enum: type[StrEnum], length: int) -> Enum:
    """A column of ``enum``'s values: stored as the plain strings in a ``VARCHAR(length)``
    (no database enum type, no CHECK constraint, so no migration), read back as members;
    a string that is not one of the values is refused before it is written."""
    return Enum(enum, native_enum=False, create_constraint=False, length=length,
                validate_strings=True, values_callable=lambda e: [m.value for m in e])  # fmt: skip


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware UTC datetimes (SQLite would return naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def driver_time(at: datetime, dialect: str) -> Any:
    """A time as ``UTCDateTime`` stores it, for a statement sent on the driver's own
    connection: naive UTC text on SQLite, aware UTC on PostgreSQL."""
    utc = at.astimezone(UTC)
    return f"{utc.replace(tzinfo=None):%Y-%m-%d %H:%M:%S.%f}" if dialect == "sqlite" else utc


def insert_or_ignore(session: AsyncSession, model: Any, conflict: list[str], values: Any) -> Any:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` for the session's database (PostgreSQL
    and SQLite spell it alike, but SQLAlchemy builds it per dialect)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=conflict)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class _InlineSqlite(aiosqlite.Connection):
    """aiosqlite's connection, minus its thread where the thread buys nothing.

    aiosqlite runs every call (a cursor, a statement, a fetch, a close) in its own thread and
    wakes the event loop for each answer: two thread switches per call, four calls per
    statement, tens of microseconds each (and, on a busy loop, a wait of up to the
    interpreter's switch interval for the GIL), while the statement itself takes a few.
    Here a call runs on the loop's thread, unless it may have to wait:

    - ``BEGIN IMMEDIATE`` waits for another process's writer: it is tried at once with no
      busy timeout, and only when the database is locked waits in the thread;
    - any other statement outside a transaction (autocommit) may wait likewise: thread;
    - a commit waits for the disk where commits are durable (``inline_commit`` False):
      thread; unless the transaction changed no row (``total_changes`` as at its BEGIN: a
      read, or a write that found nothing to do), which has nothing to write; a close waits
      in the thread too (the last one checkpoints the WAL).

    Inside a transaction begun IMMEDIATE the connection holds the write lock, and in WAL mode
    readers never wait: what runs inline does not wait. Transactions of one process are
    serialised anyway (``_sqlite_turn``), so running their statements inline holds up no
    other transaction; a long report query holds up the loop for its duration instead.
    """

    _MAY_WAIT = frozenset({"execute", "executemany", "executescript"})

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, busy_ms: int,
                 inline_commit: bool) -> None:  # fmt: skip
        super().__init__(connector, 64)
        self._busy_ms = busy_ms
        self._inline_commit = inline_commit
        self._changes_at_begin = -1  # the connection's total_changes when it last began

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if conn is not None and self._running:
            if self._inline(conn, fn):
                return fn(*args, **kwargs)
            if args and str(args[0]).startswith("BEGIN"):
                self._changes_at_begin = conn.total_changes
                begun, result = self._begin_now(conn, fn, args)
                if begun:
                    return result
        return await super()._execute(fn, *args, **kwargs)

    def _inline(self, conn: sqlite3.Connection, fn: Callable[..., Any]) -> bool:
        name = getattr(fn, "__name__", "")
        if getattr(fn, "__self__", None) is conn and name in ("commit", "close"):
            unchanged = conn.total_changes == self._changes_at_begin
            return name == "commit" and (self._inline_commit or unchanged)
        return conn.in_transaction or name not in self._MAY_WAIT

    def _begin_now(self, conn: sqlite3.Connection, fn: Callable[..., Any],
                   args: tuple[Any, ...]) -> tuple[bool, Any]:  # fmt: skip
        """Begin at once if no other process writes: (True, what ``fn`` returned); (False,
        None), nothing begun, if one does."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            return True, fn(*args)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                raise
            return False, None
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")


def _sqlite_connector(path: str, timeout: float, *, durable: bool) -> Callable[[], Any]:
    async def connect() -> aiosqlite.Connection:
        # The connection is made in aiosqlite's thread and used on the loop's too.
        conn = _InlineSqlite(
            lambda: sqlite3.connect(path, timeout=timeout, check_same_thread=False),
            busy_ms=int(timeout * 1000), inline_commit=not durable,
        )  # fmt: skip
        conn._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        return await conn

    return connect


def create_engine(
    url: str,
    *,
    pool_size: int = 20,
    echo: bool = False,
    durable: bool = True,
) -> AsyncEngine:
    """``pool_size`` covers two connections per concurrent request (the request's own, and
    the sandbox gateway's on PostgreSQL): overflow connections are closed on return, and
    opening one per request would cost more than the request.

    ``durable=False`` lets commits return before they reach the disk (PostgreSQL's
    ``synchronous_commit=off``, SQLite's ``synchronous=NORMAL`` in WAL mode): a crash of the
    process loses nothing, a crash of the machine may lose the last moments of commits."""
    if is_sqlite(url):
        path = make_url(url).database or ":memory:"
        connect = _sqlite_connector(path, BUSY_SECONDS, durable=durable)
        engine = create_async_engine(url, echo=echo, async_creator=connect)
        _configure_sqlite(engine, "FULL" if durable else "NORMAL")
        return engine
    # No pre-ping (it costs a round trip per transaction); connections are recycled instead,
    # and a connection found dead is discarded by the pool on its first error.
    connect_args = {} if durable else {"server_settings": {"synchronous_commit": "off"}}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class StatementCount:
    """What the engines it watches sent to their databases, for the benchmarks: statements
    (one per cursor execution: an executemany is one, as it is one round trip; SQLite's
    ``BEGIN IMMEDIATE`` is one, the busy-timeout settings around it are none) and
    transactions committed (an autocommit statement is none)."""

    statements: int = 0
    commits: int = 0

    def watch(self, engine: AsyncEngine) -> None:
        _counts[engine.sync_engine] = self

        def on_execute(*_: Any) -> None:
            self.statements += 1

        def on_commit(_: Any) -> None:
            self.commits += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
        event.listen(engine.sync_engine, "commit", on_commit)


# The counts of watched engines, for what is sent on their driver connections (which no
# SQLAlchemy event sees): ``driver_transaction`` and its stores count themselves.
_counts: WeakKeyDictionary[Any, StatementCount] = WeakKeyDictionary()


def statement_count(engine: AsyncEngine) -> StatementCount | None:
    return _counts.get(engine.sync_engine)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_write_locks: WeakKeyDictionary[Any, asyncio.Lock] = WeakKeyDictionary()
_held: ContextVar[frozenset[int]] = ContextVar("fareroom_sqlite_locks_held", default=frozenset())


@asynccontextmanager
async def _sqlite_turn(engine: AsyncEngine | None) -> AsyncIterator[None]:
    """On SQLite, transactions of this process queue here, first come first served, instead
    of polling SQLite's busy handler (which sleeps between tries). Other processes still
    wait on ``busy_timeout``. A task may not open a second transaction while it holds one:
    it would wait for itself."""
    if engine is None or engine.dialect.name != "sqlite":
        yield
        return
    held = _held.get()
    if id(engine) in held:
        raise RuntimeError("nested transaction on one SQLite database would deadlock")
    lock = _write_locks.setdefault(engine.sync_engine, asyncio.Lock())
    async with lock:
        token = _held.set(held | {id(engine)})
        try:
            yield
        finally:
            _held.reset(token)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with _sqlite_turn(factory.kw.get("bind")), factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine, *, single: bool = False) -> AsyncIterator[Any]:
    """A transaction on the driver's own connection (aiosqlite's, asyncpg's), from the
    engine's pool, for a store whose few simple statements are its own: SQLAlchemy's path
    from a statement to the driver costs several times the database's work there. Commit
    on success, roll back on any error. ``single``: one statement that is a transaction by
    itself (autocommit: no BEGIN or COMMIT of ours)."""
    sqlite = engine.dialect.name == "sqlite"
    counted = statement_count(engine)
    async with _sqlite_turn(engine if sqlite else None), engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        if single:
            yield raw
            return
        if sqlite:
            await (await raw.execute("BEGIN IMMEDIATE")).close()
            try:
                yield raw
                await raw.commit()
            except BaseException:
                await raw.rollback()
                raise
        else:
            async with raw.transaction():
                yield raw
        if counted is not None:
            counted.statements += sqlite  # as SQLAlchemy's events count BEGIN IMMEDIATE
            counted.commits += 1
