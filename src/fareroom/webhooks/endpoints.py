from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError

from fareroom.http import context
from fareroom.openapi import problems

router = APIRouter(tags=["webhooks"])


_DOCUMENTED = {
    "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True,
                    "schema": {"type": "string", "maxLength": 1000},
                    "description": "t=<unix time>,v1=<HMAC-SHA256 of 't.body' with the "
                    "webhook secret>"}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["id", "type"],
        "properties": {"id": {"type": "string"}, "type": {"type": "string"}}}}}},
}  # fmt: skip


@router.post("/webhooks/stripe", openapi_extra=_DOCUMENTED, responses=problems(400))
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
