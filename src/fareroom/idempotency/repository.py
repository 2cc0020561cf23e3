from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.models.gateway import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, record: IdempotencyRecord) -> None:
        self.session.add(record)
        await self.session.flush()

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
