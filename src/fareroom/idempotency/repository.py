from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fareroom.kit.db import UTCDateTime, insert_or_ignore
from fareroom.models.business import ApiKey
from fareroom.models.gateway import IdempotencyRecord


def _claim_for_key(insert: Any) -> Any:
    """One statement that authenticates and claims: insert the record for the business of
    the live API key with this hash, unless the business already has the key. Returns the
    business id when it inserted, nothing otherwise (key taken, or API key not valid)."""
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


_CLAIM = {"postgresql": _claim_for_key(pg_insert), "sqlite": _claim_for_key(sqlite_insert)}


async def claim_for_key(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Run the claim above; True when this call inserted the record."""
    stmt = _CLAIM[conn.dialect.name]
    return (await conn.execute(stmt, values)).first() is not None


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        await self.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(response_status=status, response_body=body, locked_at=None)
        )
