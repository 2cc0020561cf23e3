from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.kit.db import insert_or_ignore
from fareroom.models.gateway import IdempotencyRecord


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
