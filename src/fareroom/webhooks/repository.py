from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.models.gateway import WebhookEvent


class WebhooksRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def event(self, event_id: str) -> WebhookEvent | None:
        return await self.session.get(WebhookEvent, event_id)

    async def add(self, event: WebhookEvent) -> None:
        self.session.add(event)
        await self.session.flush()
