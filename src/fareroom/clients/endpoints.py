from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.clients.schemas import CardCreate, CardOut, CardUpdate, ClientCreate, ClientOut
from fareroom.clients.service import ClientView
from fareroom.http import Page, PathId, api_key, page_params, paginated, read, write
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1/clients", tags=["clients"])


def render(view: ClientView) -> ClientOut:
    out = ClientOut.model_validate(view.client)
    out.cards = [
        CardOut.model_validate(c).model_copy(
            update={"default": c.id == view.client.default_card_id}
        )
        for c in view.cards
    ]
    return out


@router.post("", status_code=201, response_model=ClientOut)
async def create_client(body: ClientCreate, request: Request,
                        key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> ClientOut:
        client = await s.clients.create(
            caller.business_id, name=body.name, email=body.email, client_id=rid
        )
        return render(ClientView(client, []))

    return await write(request, key, body, prefix="cli", fn=run)


@router.get("", response_model=dict[str, Any])
async def list_clients(request: Request, page: Page = Depends(page_params),
                       key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    items = await read(
        request,
        key,
        lambda s, caller: s.clients.list(
            caller.business_id, limit=page.limit + 1, starting_after=page.starting_after
        ),
    )
    return paginated(items, page, ClientOut.model_validate, lambda c: c.id)


@router.get("/{client_id}", response_model=ClientOut)
async def get_client(client_id: PathId, request: Request,
                     key: str = Depends(api_key)) -> ClientOut:  # fmt: skip
    return render(
        await read(request, key, lambda s, caller: s.clients.view(caller.business_id, client_id))
    )


@router.post("/{client_id}/cards", status_code=201, response_model=CardOut, responses=problems(402))
async def add_card(client_id: PathId, body: CardCreate, request: Request,
                   key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> CardOut:
        added = await s.clients.add_card(
            caller.business_id,
            client_id,
            token=body.token,
            recurring_authorised=body.recurring_authorised,
            card_id=rid,
        )
        return CardOut.model_validate(added.card).model_copy(update={"default": added.default})

    return await write(request, key, body, prefix="card", fn=run)


@router.patch("/{client_id}/cards/{card_id}", response_model=CardOut)
async def update_card(client_id: PathId, card_id: PathId, body: CardUpdate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> CardOut:
        card = await s.clients.update_card(
            caller.business_id,
            client_id,
            card_id,
            make_default=body.default,
            recurring_authorised=body.recurring_authorised,
        )
        client = await s.clients.get(caller.business_id, client_id)
        return CardOut.model_validate(card).model_copy(
            update={"default": client.default_card_id == card.id}
        )

    return await write(request, key, body, prefix="card", fn=run, status=200)


@router.delete("/{client_id}/cards/{card_id}", status_code=204)
async def delete_card(client_id: PathId, card_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> Response:  # fmt: skip
    await read(
        request,
        key,
        lambda s, caller: s.clients.delete_card(caller.business_id, client_id, card_id),
    )
    return Response(status_code=204)
