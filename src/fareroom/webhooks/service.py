"""Webhook inbox: verify the signature, store each event once, apply it in the same transaction.

Gateways deliver at least once and in any order: a duplicate id is acknowledged and skipped,
and applying an event never moves a payment's state backwards.
"""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.gateway.base import GatewayInvalidRequest, PaymentGateway
from fareroom.kit.clock import Clock
from fareroom.kit.errors import FareroomError
from fareroom.models.gateway import WebhookEvent
from fareroom.payments.service import PaymentsService
from fareroom.webhooks.repository import WebhooksRepository


class WebhooksService:
    def __init__(self, session: AsyncSession, gateway: PaymentGateway,
                 payments: PaymentsService, clock: Clock) -> None:  # fmt: skip
        self._repo = WebhooksRepository(session)
        self._gateway = gateway
        self._payments = payments
        self._clock = clock

    async def receive(self, payload: bytes, signature: str) -> tuple[str, str]:
        """Returns (event id, outcome). Raises 400-class errors for bad signatures."""
        try:
            event = self._gateway.parse_webhook(payload, signature)
        except GatewayInvalidRequest as exc:
            raise FareroomError(exc.message, code=exc.code or "invalid_webhook") from None
        if await self._repo.event(event.id) is not None:
            return event.id, "duplicate"
        outcome = await self._payments.on_gateway_event(event.type, event.data)
        now = self._clock.now()
        await self._repo.add(
            WebhookEvent(
                id=event.id,
                gateway=self._gateway.name,
                type=event.type,
                payload=json.dumps(json.loads(payload))[:100_000],
                outcome=outcome[:200],
                received_at=now,
                processed_at=now,
            )
        )
        return event.id, outcome
