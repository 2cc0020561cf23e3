"""Gateway webhooks: verified, stored once per event id, applied idempotently."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from fareroom.http import PROBLEM, context
from fareroom.kit.errors import ValidationFailed
from fareroom.openapi import problems
from fareroom.webhooks.service import DUPLICATE

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


@router.post("/webhooks/stripe", openapi_extra=_DOCUMENTED, response_model=dict[str, str],
             responses=problems(400, 422, 503))  # fmt: skip
async def stripe_webhook(request: Request) -> JSONResponse:
    """Gateway events (Stripe's, or the sandbox's in the same shape). Verified by signature;
    an event that disagrees with our records or the gateway's is answered 422
    ``event_rejected`` and changes nothing."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        async with context(request).unit_of_work() as services:
            got = await services.webhooks.receive(payload, signature)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery stored it.
        return JSONResponse({"status": DUPLICATE})
    if not got.accepted:
        # The reason stays in our store: the sender learns only that it was refused.
        err = ValidationFailed(
            "The event does not agree with the payment's records; nothing was changed.",
            code="event_rejected", id=got.event_id)  # fmt: skip
        return JSONResponse(err.problem(), err.status, media_type=PROBLEM)
    return JSONResponse({"id": got.event_id, "status": got.outcome})
