"""The client's side of a chat over HTTP (``/chat/api``): the contact form, the terms, the
card, leaving the queue, another card after a failed payment, paying a payment request.

There is no sign-in: a visit is proven by its resume token in ``X-Visit-Token`` (the page
keeps it in its tab's session storage; the socket's ``welcome`` replaces it). Card numbers
never come here: the page turns them into a token first (the sandbox's ``/sandbox/tokens``,
or Stripe.js in Stripe mode).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from fareroom.chat import relay
from fareroom.chat.realtime import visit_view
from fareroom.chat.schemas import Strict
from fareroom.http import context
from fareroom.kit.errors import Conflict, NotFound

router = APIRouter(prefix="/chat/api", tags=["chat (client pages)"])


class VisitStart(BaseModel):
    model_config = Strict
    room_id: str = Field(max_length=40)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    question: str = Field(min_length=1, max_length=4000)


class CardToken(BaseModel):
    model_config = Strict
    token: str = Field(min_length=1, max_length=200)


_TOKEN = Header(alias="X-Visit-Token", max_length=200)


@router.post("/visits", status_code=201)
async def start_visit(body: VisitStart, request: Request) -> dict[str, Any]:
    """The contact form: a visit, and the token that proves it from now on."""
    async with context(request).unit_of_work() as s:
        visit, token = await s.live.start_visit(
            body.room_id, name=body.name.strip(), email=body.email, question=body.question
        )
        return {"token": token, "visit": await visit_view(s, visit)}


@router.get("/visit")
async def get_visit(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    async with context(request).unit_of_work() as s:
        return {"visit": await visit_view(s, await s.live.visit(token))}


@router.post("/visit/terms")
async def accept_terms(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    async with context(request).unit_of_work() as s:
        visit = await s.live.accept_terms(await s.live.visit(token, lock=True))
        return {"visit": await visit_view(s, visit)}


@router.post("/visit/card")
async def give_card(body: CardToken, request: Request, token: str = _TOKEN) -> dict[str, Any]:
    """Register the card and place the hold; then the client waits for an agent."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.give_card(await s.live.visit(token, lock=True), token=body.token)
        s.log.business_id = visit.business_id
    await relay.route(ctx, visit.room_id, queue_changed=True)
    async with ctx.unit_of_work() as s:
        return {"visit": await visit_view(s, await s.live.visit(token))}


@router.post("/visit/leave")
async def leave(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.leave(await s.live.visit(token, lock=True))
        view = await visit_view(s, visit)
    await relay.route(ctx, visit.room_id, queue_changed=True)
    return {"visit": view}


@router.post("/visit/session-card")
async def session_card(body: CardToken, request: Request, token: str = _TOKEN
                       ) -> dict[str, Any]:  # fmt: skip
    """Another card for the session: after a failed payment, what is due is charged to it."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.visit(token)
        if visit.session_id is None:
            raise Conflict("You are not in a chat yet.", code="visit_not_connected")
        biz = await s.payments.business(visit.business_id)
        s.log.business_id = biz.id
        card = await s.clients.add_card(biz.id, visit.client_id, token=body.token)
        await s.metering.change_card(biz, visit.session_id, card.card.id)
    state = await relay.announce(ctx, visit.business_id, visit.session_id)
    return {"session": state.model_dump(mode="json")}


@router.post("/visit/requests/{request_id}/pay")
async def pay_request(request_id: str, request: Request, token: str = _TOKEN) -> dict[str, Any]:
    """Pay an agent's payment request with the card of the session."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.visit(token)
        found = await s.chat.request(visit.business_id, request_id)
        if visit.session_id is None or found.session_id != visit.session_id:
            raise NotFound("No such payment request in your chat.",
                           code="payment_request_not_found")  # fmt: skip
        session = (await s.metering.state(visit.business_id, visit.session_id)).session
        biz = await s.payments.business(visit.business_id)
        s.log.business_id = biz.id
        paid = await s.chat.pay_request(biz, request_id, card_id=session.card_id)
    await relay.request_changed(ctx, paid)
    return {"request": relay.request_out(paid)}
