from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError

from fareroom.http import context

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request) -> dict[str, str]:
    """Gateway events (Stripe's, or the sandbox's in the same shape). Verified by signature."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        async with context(request).unit_of_work() as services:
            event_id, outcome = await services.webhooks.receive(payload, signature)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery stored it.
        return {"status": "duplicate"}
    return {"id": event_id, "status": outcome}
