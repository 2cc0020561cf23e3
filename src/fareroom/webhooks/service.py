"""Webhook inbox: verify the signature, store each event once, apply it in the same transaction.

Gateways deliver at least once and in any order: a duplicate id is acknowledged and skipped,
and applying an event never moves a payment's state backwards. An event whose claims do not
agree with our records or the gateway's is stored as rejected (``processed_at`` empty) and
changes nothing; a malformed one is refused before anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.gateway.base import GatewayInvalidRequest, GatewayMisconfigured, PaymentGateway
from fareroom.kit.clock import Clock
from fareroom.kit.errors import FareroomError, ServiceUnavailable
from fareroom.models.gateway import WebhookEvent
from fareroom.payments.events import EventObject
from fareroom.payments.service import PaymentsService
from fareroom.webhooks.repository import WebhooksRepository

DUPLICATE = "duplicate"  # the outcome of an event whose id was stored before


@dataclass(frozen=True)
class Received:
    event_id: str
    outcome: str
    accepted: bool


class WebhooksService:
    def __init__(self, session: AsyncSession, gateway: PaymentGateway,
                 payments: PaymentsService, clock: Clock) -> None:  # fmt: skip
        self._repo = WebhooksRepository(session)
        self._gateway = gateway
        self._payments = payments
        self._clock = clock

    async def receive(self, payload: bytes, signature: str) -> Received:
        """Raises 400-class errors for bad signatures and malformed events, 503 when this
        server has no secret to verify webhooks with."""
        try:
            event = await self._gateway.parse_webhook(payload, signature)
        except GatewayInvalidRequest as exc:
            raise FareroomError(exc.message, code=exc.code or "invalid_webhook") from None
        except GatewayMisconfigured:
            raise ServiceUnavailable(
                "Webhooks are not configured on this server (no webhook secret is set).",
                code="webhooks_not_configured",
            ) from None
        seen = await self._repo.event(event.id)
        if seen is not None:
            return Received(event.id, DUPLICATE, accepted=seen.processed_at is not None)
        outcome = await self._payments.on_gateway_event(event.type, EventObject.read(event.data))
        now = self._clock.now()
        await self._repo.add(
            WebhookEvent(
                id=event.id,
                gateway=self._gateway.name,
                type=event.type,
                payload=json.dumps(json.loads(payload))[:100_000],
                outcome=outcome.text[:200],
                received_at=now,
                processed_at=now if outcome.accepted else None,
            )
        )
        return Received(event.id, outcome.text, outcome.accepted)
