"""The repository base: every domain's repository holds its SQL over one session.

The session belongs to the unit of work (the request or the job): a repository never
commits. The session factory has ``autoflush=False`` (a flush before every query would
cost more than most queries), so a repository flushes itself where a later read in the same
transaction needs the rows it added: ``add`` flushes.

Rows that belong to a business are read through ``of_business`` and ``newest_first``, which
always filter by the business: an id of another business's row reads as missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.db import Base

M = TypeVar("M", bound=Base)


def for_update(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` locking what it reads, read again from the database rather than taken from
    the session as an earlier read in this transaction left it: the lock is what makes it
    current (a row read before its lock was waited for may have changed since)."""
    return stmt.with_for_update().execution_options(populate_existing=True)


@cache
def _of_business(model: type[Base], lock: bool) -> Select[Any]:
    """Built once per model: ``model``'s row by id, within one business."""
    c = cast(Table, model.__table__).c
    stmt = select(model).where(c.id == bindparam("r_id"), c.business_id == bindparam("r_business"))
    return for_update(stmt) if lock else stmt


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *objs: object) -> None:
        """Add rows and flush them: constraints are checked now, and the queries that follow
        in this transaction see the rows."""
        self.session.add_all(objs)
        await self.session.flush()

    async def of_business(
        self, model: type[M], business_id: str, row_id: str, *, lock: bool = False
    ) -> M | None:
        """The row with this id if it belongs to ``business_id``. ``lock`` holds it until the
        commit (a row lock on PostgreSQL; SQLite serialises every write transaction anyway),
        which serialises concurrent changes of one row."""
        stmt = cast("Select[tuple[M]]", _of_business(model, lock))
        return await self.session.scalar(stmt, {"r_id": row_id, "r_business": business_id})

    async def newest_first(
        self, model: type[M], business_id: str, *where: ColumnElement[bool], limit: int,
        starting_after: str | None = None,
    ) -> Sequence[M]:  # fmt: skip
        """A page of the business's rows (those matching ``where``), newest id first: ids
        grow with time, so ``starting_after`` (the last id of the page before) continues
        the list where that page ended."""
        c = cast(Table, model.__table__).c
        stmt = select(model).where(c.business_id == business_id, *where)
        if starting_after:
            stmt = stmt.where(c.id < starting_after)
        return (await self.session.scalars(stmt.order_by(c.id.desc()).limit(limit))).all()
