from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.chat.schemas import (
    AgentTariffIn,
    PaymentRequestCreate,
    PaymentRequestOut,
    PayRequest,
    RoomCreate,
    RoomOut,
    RoomUpdate,
    SessionOpen,
)
from fareroom.chat.service import RoomView, embed_origins
from fareroom.http import PathId, api_key, read, write
from fareroom.metering.endpoints import settled
from fareroom.metering.schemas import SessionOut, TariffOut
from fareroom.metering.service import LiveState
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["chat"])


def render_room(view: RoomView) -> RoomOut:
    r = view.room
    return RoomOut(
        id=r.id, name=r.name, terms=r.terms, tariff=TariffOut(**view.tariff.__dict__),
        agent_may_start=r.agent_may_start, agent_may_pause=r.agent_may_pause,
        agents_own_tariff=r.agents_own_tariff, distribution=r.distribution,
        agent_ids=view.agent_ids, embed_origins=embed_origins(r), away_message=r.away_message,
        warnings=[{"code": w.code, "message": w.message} for w in view.warnings],
        created_at=r.created_at,
    )  # fmt: skip


@router.post("/chat-rooms", status_code=201, response_model=RoomOut)
async def create_room(body: RoomCreate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> RoomOut:
        return render_room(
            await s.chat.create_room(
                caller.business,
                name=body.name,
                terms=body.terms,
                tariff=body.tariff.fields(),
                agent_may_start=body.agent_may_start,
                agent_may_pause=body.agent_may_pause,
                agents_own_tariff=body.agents_own_tariff,
                distribution=body.distribution,
                agent_ids=body.agent_ids,
                embed_origins=body.embed_origins,
                away_message=body.away_message,
                room_id=rid,
            )
        )

    return await write(request, key, body, prefix="room", fn=run)


@router.get("/chat-rooms", response_model=dict[str, Any])
async def list_rooms(request: Request, key: str = Depends(api_key)) -> dict[str, Any]:
    views = await read(request, key, lambda s, caller: s.chat.rooms(caller.business_id))
    return {"data": [render_room(v).model_dump(mode="json") for v in views]}


@router.get("/chat-rooms/{room_id}", response_model=RoomOut)
async def get_room(room_id: PathId, request: Request, key: str = Depends(api_key)) -> RoomOut:
    return render_room(
        await read(request, key, lambda s, caller: s.chat.view(caller.business_id, room_id))
    )


@router.patch("/chat-rooms/{room_id}", response_model=RoomOut)
async def update_room(room_id: PathId, body: RoomUpdate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> RoomOut:
        settings = body.model_dump(exclude={"tariff", "agent_ids"})
        return render_room(await s.chat.update_room(
            caller.business, room_id, tariff=body.tariff.fields() if body.tariff else None,
            agent_ids=body.agent_ids, **settings))  # fmt: skip

    return await write(request, key, body, prefix="rupd", fn=run, status=200)


@router.put("/agents/{user_id}/tariff", response_model=dict[str, Any])
async def set_agent_tariff(user_id: PathId, body: AgentTariffIn, request: Request,
                           key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """An agent's own tariff, used in rooms that allow it (``null`` removes it)."""

    async def run(s: Services, caller: Caller, _: str | None) -> dict[str, Any]:
        tariff = await s.chat.set_agent_tariff(
            caller.business, user_id, body.tariff.fields() if body.tariff else None
        )
        return {
            "agent_id": user_id,
            "tariff": TariffOut(**tariff.__dict__).model_dump() if tariff else None,
            "warnings": [w.__dict__ for w in s.chat.warnings(tariff)] if tariff else [],
        }

    return await write(request, key, body, prefix="atrf", fn=run, status=200)


# ------------------------------------------------------------ payment requests


@router.post(
    "/payment-requests", status_code=201, response_model=PaymentRequestOut, responses=problems(404)
)
async def create_payment_request(body: PaymentRequestCreate, request: Request,
                                 key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> PaymentRequestOut:
        return PaymentRequestOut.model_validate(
            await s.chat.create_request(
                caller.business,
                room_id=body.room_id,
                agent_id=body.agent_id,
                client_id=body.client_id,
                category=body.category,
                session_id=body.session_id,
                items=[i.model_dump() for i in body.items],
                total=body.total,
                request_id=rid,
            )
        )

    return await write(request, key, body, prefix="preq", fn=run)


@router.get("/payment-requests", response_model=dict[str, Any])
async def list_payment_requests(request: Request, key: str = Depends(api_key)) -> dict[str, Any]:
    found = await read(request, key, lambda s, caller: s.chat.requests(caller.business_id))
    return {"data": [PaymentRequestOut.model_validate(r).model_dump(mode="json") for r in found]}


@router.get("/payment-requests/{request_id}", response_model=PaymentRequestOut)
async def get_payment_request(request_id: PathId, request: Request,
                              key: str = Depends(api_key)) -> PaymentRequestOut:  # fmt: skip
    return PaymentRequestOut.model_validate(
        await read(request, key, lambda s, caller: s.chat.request(caller.business_id, request_id))
    )


@router.post(
    "/payment-requests/{request_id}/pay", response_model=PaymentRequestOut, responses=problems(402)
)
async def pay_payment_request(request_id: PathId, request: Request, body: PayRequest | None = None,
                              key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    body = body or PayRequest()

    async def run(s: Services, caller: Caller, _: str | None) -> PaymentRequestOut:
        return PaymentRequestOut.model_validate(
            await s.chat.pay_request(caller.business, request_id, card_id=body.card_id)
        )

    return await write(request, key, body, prefix="ppay", fn=run, status=200)


def _action(path: str, prefix: str, what: str) -> None:
    @router.post(f"/payment-requests/{{request_id}}/{path}", response_model=PaymentRequestOut,
                 name=f"payment_request_{path.replace('-', '_')}")  # fmt: skip
    async def act(request_id: PathId, request: Request,
                  key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
        async def run(s: Services, caller: Caller, _: str | None) -> PaymentRequestOut:
            if what == "cancel":
                found = await s.chat.cancel_request(caller.business_id, request_id)
            else:
                found = await s.chat.mark_service(caller.business_id, request_id, what)
            return PaymentRequestOut.model_validate(found)

        return await write(request, key, None, prefix=prefix, fn=run, status=200)


_action("cancel", "pcan", "cancel")
_action("service-start", "psst", "start")
_action("service-finish", "psfn", "finish")


@router.post("/chat-sessions", status_code=201, response_model=SessionOut,
             responses=problems(402, 404), tags=["metering"])  # fmt: skip
async def open_session(body: SessionOpen, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Open a metered session in a room: the client accepted the terms and the hold
    succeeded."""

    async def run(s: Services, caller: Caller, rid: str | None) -> LiveState:
        return await s.chat.open_session(
            caller.business, room_id=body.room_id, agent_id=body.agent_id,
            client_id=body.client_id, card_id=body.card_id,
            accepted_terms=body.accepted_terms, session_id=rid)  # fmt: skip

    return await write(request, key, body, prefix="cs", fn=run, then=settled(request))
