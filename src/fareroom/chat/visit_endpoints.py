"""The client's side of a chat over HTTP (``/chat/api``): the contact form (or, while no
agent is available, a message to get back to), the terms, the card, leaving the queue,
another card after a failed payment, paying a payment request, the end screen's summary.

There is no sign-in: a visit is proven by its resume token in ``X-Visit-Token`` (the page
keeps it in the browser's local storage, per room; the socket's ``welcome`` replaces it).
Card numbers never come here: the page turns them into a token first (the sandbox's
``/sandbox/tokens``, or Stripe.js in Stripe mode).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from fareroom.chat.realtime import card_out
from fareroom.chat.relay import message_out, request_out, visit_view
from fareroom.http import PathId, context, peer_address
from fareroom.kit.fields import ID, Email, Strict, ident, text
from fareroom.metering.schemas import session_out
from fareroom.openapi import problems

router = APIRouter(prefix="/chat/api", tags=["chat (client pages)"])


class VisitStart(BaseModel):
    model_config = Strict
    room_id: str = ident()
    name: str = text(200)
    email: Email
    question: str = text(4000)


class LeadIn(BaseModel):
    model_config = Strict
    name: str = text(200)
    email: Email
    message: str = text(4000)


class CardToken(BaseModel):
    model_config = Strict
    token: str = Field(min_length=1, max_length=200, pattern=ID)


_TOKEN_PATTERN = r"^[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$"
_TOKEN = Header(alias="X-Visit-Token", max_length=200, pattern=_TOKEN_PATTERN,
                description="The visit's current resume token")  # fmt: skip
_MAYBE_TOKEN = Header(default=None, alias="X-Visit-Token", max_length=200,
                      pattern=_TOKEN_PATTERN,
                      description="This browser's open visit in the room, if any")  # fmt: skip


@router.post("/visits", status_code=201, responses=problems(404, 409, 429))
async def start_visit(body: VisitStart, request: Request, token: str | None = _MAYBE_TOKEN
                      ) -> dict[str, Any]:  # fmt: skip
    """The contact form: a visit, and the token that proves it from now on. Refused while
    no agent of the room is available (``no_agent_available``) and while the token sent
    names this browser's open visit in the room (``visit_already_open``)."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit, new = await s.live.start_visit(
            body.room_id, name=body.name.strip(), email=body.email, question=body.question,
            connected=ctx.relay.connected(), current=token,
            address=peer_address(request))  # fmt: skip
        return {"token": new, "visit": await visit_view(s, visit)}


@router.post("/rooms/{room_id}/leads", status_code=201, responses=problems(404, 429))
async def leave_lead(room_id: PathId, body: LeadIn, request: Request) -> dict[str, Any]:
    """While no agent is available: a message and an email to get back to."""
    async with context(request).unit_of_work() as s:
        lead = await s.live.leave_lead(room_id, name=body.name, email=body.email,
                                       message=body.message,
                                       address=peer_address(request))  # fmt: skip
        return {"id": lead.id, "created_at": lead.created_at.isoformat()}


@router.get("/visit")
async def get_visit(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    async with context(request).unit_of_work() as s:
        return {"visit": await visit_view(s, await s.live.visit(token))}


@router.post("/visit/terms", responses=problems(409))
async def accept_terms(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    async with context(request).unit_of_work() as s:
        visit = await s.live.accept_terms(await s.live.visit(token, lock=True))
        return {"visit": await visit_view(s, visit)}


@router.post("/visit/card", responses=problems(402, 409, 429))
async def give_card(body: CardToken, request: Request, token: str = _TOKEN) -> dict[str, Any]:
    """Register the card and place the hold; then the client waits for an agent."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.give_card(await s.live.visit(token, lock=True), token=body.token,
                                       connected=ctx.relay.connected(),
                                       address=peer_address(request))  # fmt: skip
    await ctx.relay.route(visit.room_id, queue_changed=True)
    async with ctx.unit_of_work() as s:
        return {"visit": await visit_view(s, await s.live.visit(token))}


@router.post("/visit/leave", responses=problems(409))
async def leave(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.leave(await s.live.visit(token, lock=True))
        view = await visit_view(s, visit)
    await ctx.relay.route(visit.room_id, queue_changed=True)
    return {"visit": view}


@router.post("/visit/session-card", responses=problems(402, 404, 409, 429))
async def session_card(body: CardToken, request: Request, token: str = _TOKEN
                       ) -> dict[str, Any]:  # fmt: skip
    """Another card for the session: after a failed payment, what is due is charged to it."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.visit(token)
        card = await s.live.session_card(visit, token=body.token, address=peer_address(request))
        assert visit.session_id is not None
    state = await ctx.relay.announce(visit.business_id, visit.session_id)
    return {"session": state.model_dump(mode="json"), "card": card_out(card.card)}


@router.get("/visit/summary", responses=problems(409))
async def summary(request: Request, token: str = _TOKEN) -> dict[str, Any]:
    """The end screen: what was collected for the time, the paid payment requests, the
    total paid, and the transcript (both parties' messages, with times)."""
    async with context(request).unit_of_work() as s:
        found = await s.live.summary(await s.live.visit(token))
    state = found.state
    return {
        "session": session_out(state).model_dump(mode="json"),
        "collections": [{"id": c.id, "reason": c.reason, "amount": c.amount,
                         "at": (c.finished_at or c.created_at).isoformat()}
                        for c in found.collections],
        "requests": [request_out(r) for r in found.requests],
        "total_paid": found.total_paid, "currency": state.tariff.currency,
        "messages": [message_out(m) for m in found.messages],
    }  # fmt: skip


@router.post("/visit/requests/{request_id}/pay", responses=problems(402, 409, 429))
async def pay_request(request_id: PathId, request: Request, token: str = _TOKEN) -> dict[str, Any]:
    """Pay an agent's payment request with the card of the session."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        visit = await s.live.visit(token)
        paid = await s.live.pay_request(visit, request_id, address=peer_address(request))
    await ctx.relay.request_changed(paid)
    return {"request": request_out(paid)}
