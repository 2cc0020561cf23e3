"""Database base: declarative base, aware-UTC datetimes, engines for SQLite and PostgreSQL.

SQLite notes (the embedded default):
- WAL journal, ``busy_timeout`` and foreign keys are switched on for every connection;
- every transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
  writes can fail at once with SQLITE_BUSY when another writer committed in between, while an
  immediate one waits its turn under ``busy_timeout``. Writers are serialised either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, DateTime, MetaData, and_, event, or_, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

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


def insert_or_ignore(session: AsyncSession, model: Any, conflict: list[str], values: Any) -> Any:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` for the session's database (PostgreSQL
    and SQLite spell it alike, but SQLAlchemy builds it per dialect)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=conflict)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


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
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
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
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class StatementCount:
    """What the engines it watches sent to their databases, for the benchmarks: statements
    (one per cursor execution: an executemany is one, as it is one round trip) and
    transactions committed."""

    statements: int = 0
    commits: int = 0

    def watch(self, engine: AsyncEngine) -> None:
        def on_execute(*_: Any) -> None:
            self.statements += 1

        def on_commit(_: Any) -> None:
            self.commits += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
        event.listen(engine.sync_engine, "commit", on_commit)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_write_locks: WeakKeyDictionary[Any, asyncio.Lock] = WeakKeyDictionary()
_held: ContextVar[frozenset[int]] = ContextVar("fareroom_sqlite_locks_held", default=frozenset())


@asynccontextmanager
async def _sqlite_turn(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """On SQLite, transactions of this process queue here, first come first served, instead
    of polling SQLite's busy handler (which sleeps between tries). Other processes still
    wait on ``busy_timeout``. A task may not open a second transaction while it holds one:
    it would wait for itself."""
    engine = factory.kw.get("bind")
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
    async with _sqlite_turn(factory), factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def one_statement(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for one statement that is a transaction by itself. On PostgreSQL it runs
    in autocommit, which spares the BEGIN and COMMIT round trips; on SQLite it is an
    ordinary write transaction, taken in turn with the others."""
    engine = factory.kw["bind"]
    if engine.dialect.name == "sqlite":
        async with transaction(factory) as session:
            yield session
        return
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        async with factory(bind=autocommit) as session:
            yield session
