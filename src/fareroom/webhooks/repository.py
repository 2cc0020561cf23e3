from __future__ import annotations

from fareroom.kit.repository import Repository
from fareroom.models.gateway import WebhookEvent


class WebhooksRepository(Repository):
    async def event(self, event_id: str) -> WebhookEvent | None:
        return await self.session.get(WebhookEvent, event_id)
