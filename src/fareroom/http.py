"""Shared pieces of the HTTP layer: who is asking, idempotent writes, pagination."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fareroom.accounts.service import AccountsService, Caller
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.idempotency.service import request_hash
from fareroom.kit.db import transaction
from fareroom.kit.errors import FareroomError

if TYPE_CHECKING:
    from fareroom.bootstrap import Context, Services

T = TypeVar("T")
PROBLEM = "application/problem+json"


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def api_caller(request: Request) -> Caller:
    """The business behind ``Authorization: Bearer <API key>``; 401 otherwise."""
    ctx = context(request)
    async with transaction(ctx.sessions) as session:
        accounts = AccountsService(session, ctx.clock, ctx.fees)
        return await accounts.authenticate_api_key(request.headers.get("authorization"))


class Page(BaseModel):
    limit: int = 20
    starting_after: str | None = None


def page_params(
    limit: int = Query(20, ge=1, le=100, description="Items per page, 1 to 100"),
    starting_after: str | None = Query(None, max_length=64,
                                       description="The last id of the previous page"),
) -> Page:  # fmt: skip
    return Page(limit=limit, starting_after=starting_after)


def paginated(items: Sequence[T], page: Page, render: Callable[[T], BaseModel],
              ident: Callable[[T], str]) -> dict[str, Any]:  # fmt: skip
    """One page (services are asked for ``limit + 1`` items to know whether more exist)."""
    shown = list(items[: page.limit])
    return {
        "data": [render(item).model_dump(mode="json") for item in shown],
        "has_more": len(items) > page.limit,
        "next_starting_after": ident(shown[-1]) if shown and len(items) > page.limit else None,
    }


async def read(request: Request, caller: Caller,
               fn: Callable[[Services], Awaitable[T]]) -> T:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as services:
        return await fn(services)


async def write(
    request: Request, caller: Caller, body: BaseModel | None, *, prefix: str,
    fn: Callable[[Services, str | None], Awaitable[BaseModel | dict[str, Any]]],
    status: int = 201,
) -> JSONResponse:  # fmt: skip
    """Run a write in one transaction, honouring ``Idempotency-Key`` (see ``idempotency``).

    ``fn`` gets the services and the resource id reserved by the key (or None).
    """
    ctx = context(request)
    key = request.headers.get("idempotency-key")
    claim = None
    if key is not None:
        payload = body.model_dump(mode="json") if body is not None else None
        claim = await ctx.idempotency.claim(
            caller.business_id, key, request_hash(request.method, request.url.path, payload), prefix
        )
        if claim.replay is not None:
            status_, stored = claim.replay
            return JSONResponse(
                stored,
                status_,
                headers={"Idempotent-Replayed": "true"},
                media_type=PROBLEM if status_ >= 400 else None,
            )
    try:
        async with ctx.unit_of_work(caller.business_id) as services:
            result = await fn(services, claim.resource_id if claim else None)
            content = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            if claim is not None:
                await ctx.idempotency.complete(services.session, claim, status, content)
    except (FareroomError, GatewayError) as exc:
        if claim is not None:
            err = as_fareroom_error(exc) if isinstance(exc, GatewayError) else exc
            final = 400 <= err.status < 500 and err.status != 429
            await ctx.idempotency.fail(
                claim, status=err.status if final else None, body=err.problem() if final else None
            )
        raise
    except BaseException:
        if claim is not None:
            await ctx.idempotency.fail(claim, status=None)
        raise
    return JSONResponse(content, status)
