from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.db import UTCDateTime, insert_or_ignore
from fareroom.kit.repository import Repository
from fareroom.models.business import ApiKey, Business
from fareroom.models.gateway import IdempotencyRecord


def _claim_for_key(insert: Any) -> Any:
    """Insert the record for the business of the live API key with this hash, unless the
    business already has the key; returns the business id when it inserted, nothing
    otherwise (the key was seen before, or the API key is not valid)."""
    now = bindparam("now", type_=UTCDateTime())
    live_key = select(
        bindparam("id", type_=String()), ApiKey.business_id, bindparam("key", type_=String()),
        bindparam("request_hash", type_=String()), bindparam("resource_id", type_=String()),
        now, now,
    ).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))  # fmt: skip
    cols = ["id", "business_id", "key", "request_hash", "resource_id", "locked_at", "created_at"]
    table = cast(Table, IdempotencyRecord.__table__)  # Core: not the ORM's bulk insert
    return (
        insert(table)
        .from_select(cols, live_key)
        .on_conflict_do_nothing(index_elements=["business_id", "key"])
        .returning(table.c.business_id)
    )


# PostgreSQL claims and loads the business in one statement (the insert as a CTE); SQLite,
# whose round trips cost nothing, in two.
_CLAIMED = _claim_for_key(pg_insert).cte("claimed")
_CLAIM_PG = select(Business).join(_CLAIMED, _CLAIMED.c.business_id == Business.id)
_CLAIM_SQLITE = _claim_for_key(sqlite_insert)
_BUSINESS = select(Business).where(Business.id == bindparam("b_business"))
_FINISH = (
    update(cast(Table, IdempotencyRecord.__table__))
    .where(IdempotencyRecord.id == bindparam("b_id"))
    .values(response_status=bindparam("b_status"), response_body=bindparam("b_body"),
            locked_at=None)
)  # fmt: skip


async def claim_for_key(session: AsyncSession, values: dict[str, Any]) -> Business | None:
    """Authenticate and claim a key not seen before, in one statement on PostgreSQL.
    Returns the API key's business when this call inserted the record, else None."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        return (await session.execute(_CLAIM_PG, values)).scalar()
    business_id = (await session.execute(_CLAIM_SQLITE, values)).scalar()
    if business_id is None:
        return None
    return (await session.execute(_BUSINESS, {"b_business": business_id})).scalar()


class IdempotencyRepository(Repository):
    async def insert_new(self, values: dict[str, Any]) -> bool:
        """Insert unless the key exists (no error, no savepoint needed); True if inserted."""
        stmt = insert_or_ignore(
            self.session, IdempotencyRecord, ["business_id", "key"], values
        ).returning(IdempotencyRecord.id)
        return (await self.session.execute(stmt)).first() is not None

    async def locked(self, business_id: str, key: str) -> IdempotencyRecord | None:
        stmt = (select(IdempotencyRecord)
                .where(IdempotencyRecord.business_id == business_id,
                       IdempotencyRecord.key == key)
                .with_for_update())  # fmt: skip
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def finish(self, record_id: str, status: int | None, body: str | None) -> None:
        await self.session.execute(_FINISH, {"b_id": record_id, "b_status": status, "b_body": body})
