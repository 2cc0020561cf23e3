"""Shared pieces of the HTTP layer: who is asking, idempotent writes, pagination.

The API key is checked inside the request's own transaction (one indexed query), so a
request costs one transaction, not two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import AccountsService, Caller, sha256
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.idempotency.service import request_hash
from fareroom.kit.db import transaction
from fareroom.kit.errors import FareroomError, Unauthenticated
from fareroom.kit.fields import ID

if TYPE_CHECKING:
    from fareroom.bootstrap import Context, Services

T = TypeVar("T")
PROBLEM = "application/problem+json"
# An id in a path: no more than ours or the gateway's can be (a NUL would reach the database).
PathId = Annotated[str, Path(min_length=1, max_length=40, pattern=ID)]
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fr_…`")


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def peer_address(request: Request) -> str | None:
    """The connecting peer's address, which rate limits count by. Behind a proxy it is the
    proxy's, unless uvicorn is told to trust its ``X-Forwarded-For`` (``--proxy-headers``
    and ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else None


# Dependencies are ``async def``: FastAPI runs a plain ``def`` one in a thread, a hop that
# costs more than the dependency's own work.
async def api_key(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    """The API key sent as ``Authorization: Bearer <key>``; 401 when there is none."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("Send your API key as 'Authorization: Bearer <key>'.",
                              code="api_key_missing")  # fmt: skip
    return credentials.credentials.strip()


async def _caller(services: Services, key: str, business_id: str | None = None) -> Caller:
    """The API key's caller; ``business_id`` when the key was checked already (by a claim)."""
    caller = (
        Caller(business=await services.accounts.business(business_id), role="api")
        if business_id is not None
        else await services.accounts.authenticate_api_key(key)
    )
    services.log.business_id = caller.business_id
    return caller


class Page(BaseModel):
    limit: int = 20
    starting_after: str | None = None


async def page_params(
    limit: int = Query(20, ge=1, le=100, description="Items per page, 1 to 100"),
    starting_after: str | None = Query(
        None, max_length=40, pattern=ID, description="The last id of the previous page"
    ),
) -> Page:
    return Page(limit=limit, starting_after=starting_after)


def paginated(
    items: Sequence[T], page: Page, render: Callable[[T], BaseModel], ident: Callable[[T], str]
) -> dict[str, Any]:
    """One page (services are asked for ``limit + 1`` items to know whether more exist)."""
    shown = list(items[: page.limit])
    return {
        "data": [render(item).model_dump(mode="json") for item in shown],
        "has_more": len(items) > page.limit,
        "next_starting_after": ident(shown[-1]) if shown and len(items) > page.limit else None,
    }


async def read(request: Request, key: str, fn: Callable[[Services, Caller], Awaitable[T]]) -> T:
    async with context(request).unit_of_work() as services:
        return await fn(services, await _caller(services, key))


async def write(
    request: Request,
    key: str,
    body: BaseModel | None,
    *,
    prefix: str,
    fn: Callable[[Services, Caller, str | None], Awaitable[Any]],
    status: int = 201,
    then: Callable[[Any], Awaitable[BaseModel]] | None = None,
) -> JSONResponse:
    """Run a write in one transaction, honouring ``Idempotency-Key`` (see ``idempotency``).

    ``fn`` gets the services, the caller and the resource id reserved by the key (or None).
    ``then`` runs after that transaction committed (a collection it planned, carried out in
    transactions of its own) and gives the answer; it must not fail on a business error,
    for what ``fn`` did is done.
    """
    ctx = context(request)
    idem_key = request.headers.get("idempotency-key")
    claim = None
    if idem_key is not None:

        async def authenticate(session: AsyncSession) -> str:
            accounts = AccountsService(session, ctx.clock, passwords=ctx.passwords)
            return (await accounts.authenticate_api_key(key)).business_id

        payload = body.model_dump(mode="json") if body is not None else None
        claim = await ctx.idempotency.claim(
            authenticate, idem_key, request_hash(request.method, request.url.path, payload),
            prefix, key_hash=sha256(key))  # fmt: skip
        if claim.replay is not None:
            status_, stored = claim.replay
            return JSONResponse(stored, status_, headers={"Idempotent-Replayed": "true"},
                                media_type=PROBLEM if status_ >= 400 else None)  # fmt: skip
    try:
        async with ctx.unit_of_work() as services:
            caller = await _caller(services, key, claim.business_id if claim else None)
            result = await fn(services, caller, claim.resource_id if claim else None)
            content = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            if claim is not None and then is None:
                await ctx.idempotency.complete(services.session, claim, status, content)
        if then is not None:
            content = (await then(result)).model_dump(mode="json")
            if claim is not None:
                async with transaction(ctx.sessions) as session:
                    await ctx.idempotency.complete(session, claim, status, content)
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
