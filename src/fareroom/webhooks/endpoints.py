"""Gateway webhooks: verified, stored once per event id, applied idempotently."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from fareroom.http import PROBLEM, context
from fareroom.kit.errors import ValidationFailed

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/stripe", response_model=dict[str, str])
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
        return JSONResponse({"status": "duplicate"})
    if not got.accepted:
        # The reason stays in our store: the sender learns only that it was refused.
        err = ValidationFailed(
            "The event does not agree with the payment's records; nothing was changed.",
            code="event_rejected", id=got.event_id)  # fmt: skip
        return JSONResponse(err.problem(), err.status, media_type=PROBLEM)
    return JSONResponse({"id": got.event_id, "status": got.outcome})
