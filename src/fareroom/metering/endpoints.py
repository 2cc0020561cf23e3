from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.http import PathId, api_key, context, read, write
from fareroom.metering.schemas import (
    CardChange,
    CollectionOut,
    EventIn,
    EventOut,
    SessionOut,
    session_out,
)
from fareroom.metering.service import LiveState
from fareroom.models.metering import SessionStatus
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["metering"])


def settled(request: Request) -> Any:
    """After the write committed: carry out what it planned, publish, answer the state
    (the composition's relay also gives an agent freed by it a waiting client)."""
    relay = context(request).relay

    async def then(state: LiveState) -> SessionOut:
        return await relay.announce(state.session.business_id, state.session.id)

    return then


@router.get("/chat-sessions", response_model=dict[str, Any])
async def list_sessions(request: Request, status: SessionStatus | None = Query(None),
                        key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    async def run(s: Services, caller: Caller) -> list[SessionOut]:
        return [session_out(state) for state in
                await s.metering.sessions(caller.business_id, status=status)]  # fmt: skip

    return {"data": [o.model_dump(mode="json") for o in await read(request, key, run)]}


@router.get("/chat-sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> SessionOut:  # fmt: skip
    return session_out(
        await read(request, key, lambda s, caller: s.metering.state(caller.business_id, session_id))
    )


@router.post(
    "/chat-sessions/{session_id}/events", response_model=SessionOut, responses=problems(403)
)
async def record_event(session_id: PathId, body: EventIn, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Record a meter event; the answer is the session's state after it."""

    async def run(s: Services, caller: Caller, _: str | None) -> LiveState:
        return await s.metering.record(caller.business_id, session_id, body.kind,
                                       party=body.party, at=body.at)  # fmt: skip

    return await write(request, key, body, prefix="mev", fn=run, status=200,
                       then=settled(request))  # fmt: skip


@router.get("/chat-sessions/{session_id}/events", response_model=dict[str, Any])
async def list_events(session_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    found = await read(
        request, key, lambda s, caller: s.metering.events(caller.business_id, session_id)
    )
    return {"data": [EventOut.model_validate(e).model_dump(mode="json") for e in found]}


@router.get("/chat-sessions/{session_id}/collections", response_model=dict[str, Any])
async def list_collections(session_id: PathId, request: Request,
                           key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    found = await read(
        request, key, lambda s, caller: s.metering.collections(caller.business_id, session_id)
    )
    return {"data": [CollectionOut.model_validate(c).model_dump(mode="json") for c in found]}


@router.post("/chat-sessions/{session_id}/card", response_model=SessionOut, responses=problems(402))
async def change_card(session_id: PathId, body: CardChange, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Pay with another card: after a failed payment, what is due is charged to it."""

    async def run(s: Services, caller: Caller, _: str | None) -> LiveState:
        return await s.metering.change_card(caller.business, session_id, body.card_id)

    return await write(request, key, body, prefix="ccard", fn=run, status=200,
                       then=settled(request))  # fmt: skip


@router.post("/chat-sessions/{session_id}/abandon", response_model=SessionOut)
async def abandon(
    session_id: PathId, request: Request, key: str = Depends(api_key)
) -> JSONResponse:
    """The agent hangs up anyway: what is unpaid is recorded as abandoned debt."""

    async def run(s: Services, caller: Caller, _: str | None) -> SessionOut:
        return session_out(await s.metering.abandon(caller.business, session_id))

    return await write(request, key, None, prefix="aband", fn=run, status=200)
