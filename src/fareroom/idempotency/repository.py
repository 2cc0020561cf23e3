from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from fareroom.kit.db import driver_time, insert_or_ignore
from fareroom.kit.repository import Repository
from fareroom.models.gateway import IdempotencyRecord

# A key's first use, claimed in one statement on the driver's connection: the record is
# inserted for the business of the live API key with this hash, unless that business has
# the key already; the business id comes back when this statement inserted it.
_FIRST_USE = (
    "INSERT INTO idempotency_records"
    " (id, business_id, key, request_hash, resource_id, locked_at, created_at)"
    " SELECT {id}, business_id, {key}, {digest}, {resource}, {now}, {now} FROM api_keys"
    " WHERE key_hash = {key_hash} AND revoked_at IS NULL"
    " ON CONFLICT (business_id, key) DO NOTHING RETURNING business_id"
)
_FIRST_USE_SQLITE = _FIRST_USE.format(id="?1", key="?2", digest="?3", resource="?4", now="?5",
                                      key_hash="?6")  # fmt: skip
_FIRST_USE_PG = _FIRST_USE.format(id="$1::varchar", key="$2::varchar", digest="$3::varchar",
                                  resource="$4::varchar", now="$5::timestamptz",
                                  key_hash="$6::varchar")  # fmt: skip


async def claim_first_use(raw: Any, dialect: str, values: dict[str, Any]) -> str | None:
    """Authenticate and claim a key not seen before, in one statement on ``raw``, the
    driver's connection (aiosqlite's or asyncpg's). Returns the API key's business id when
    this call inserted the record, else None (the key was seen, or the API key is not
    valid)."""
    args = (values["id"], values["key"], values["request_hash"], values["resource_id"],
            driver_time(values["now"], dialect), values["key_hash"])  # fmt: skip
    if dialect == "sqlite":
        async with raw.execute(_FIRST_USE_SQLITE, args) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])
    found = await raw.fetchval(_FIRST_USE_PG, *args)
    return None if found is None else str(found)


_FINISH = (
    update(cast(Table, IdempotencyRecord.__table__))
    .where(IdempotencyRecord.id == bindparam("b_id"))
    .values(response_status=bindparam("b_status"), response_body=bindparam("b_body"),
            locked_at=None)
)  # fmt: skip


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
