"""The sandbox's own pages and API: tokenising test cards, the simulated Connect onboarding.

The onboarding page stands in for Stripe's, so it is for the business it onboards only: a
signed-in owner, admin or finance user (those who may start onboarding) whose business the
account is; completing it is a form post with the page's CSRF token, and it returns only to
a page of this installation (``return_url`` elsewhere is refused).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from fareroom.accounts.service import FINANCE_ROLES, Caller
from fareroom.gateway.base import GatewayInvalidRequest
from fareroom.gateway.sandbox import SandboxGateway
from fareroom.gateway.testcards import TEST_CARDS
from fareroom.http import context, peer_address
from fareroom.kit.errors import NotFound
from fareroom.kit.fields import Whole
from fareroom.kit.ratelimit import check_all
from fareroom.openapi import problems
from fareroom.web.pages import checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import templates
from fareroom.web.security import own_url

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Only Stripe's test numbers (spaces allowed between digits): a real card is refused.
    number: Annotated[
        str,
        Field(min_length=12, max_length=23),
        WithJsonSchema({"type": "string", "enum": sorted(TEST_CARDS)}),
    ]
    exp_month: Whole = Field(ge=1, le=12)
    exp_year: Whole = Field(ge=2000, le=2100, description="With the month, not in the past")
    cvc: str = Field("", max_length=4, pattern=r"^[0-9]*$")


class TokenOut(BaseModel):
    id: str


def _sandbox(request: Request) -> SandboxGateway:
    sandbox = context(request).sandbox
    if sandbox is None:
        raise NotFound(
            "The sandbox gateway is off: this server uses Stripe.", code="sandbox_disabled"
        )
    return sandbox


@router.post("/tokens", status_code=201, response_model=TokenOut, responses=problems(429))
async def create_token(body: TokenCreate, request: Request) -> TokenOut:
    """Stand-in for Stripe.js: a test card number in, a one-time token out. Public, as
    Stripe's is, so limited per address as Stripe limits it (each token is a stored row)."""
    sandbox, ctx, address = _sandbox(request), context(request), peer_address(request)
    if address:
        await check_all(ctx.limits, [(f"sandbox-tokens:address:{address}",
                                      ctx.settings.limit_sandbox_tokens_address)],
                        "Too many cards were tokenised from your address.")  # fmt: skip
    token = await sandbox.tokenize(
        number=body.number, exp_month=body.exp_month, exp_year=body.exp_year, cvc=body.cvc
    )
    return TokenOut(id=token)


REFUSAL = "Connecting the payouts account is for owners, admins and finance users."


class ConnectedAccountNotFound(NotFound):
    code = "account_not_found"

    def __init__(self) -> None:
        super().__init__("No such connected account.")


def _own_account(caller: Caller, account_id: str) -> None:
    if caller.business.gateway_account_id != account_id:
        raise ConnectedAccountNotFound()


@router.get("/connect/{account_id}", response_class=HTMLResponse, include_in_schema=False)
async def onboarding_page(account_id: str, request: Request,
                          return_url: str = "/dashboard") -> Response:  # fmt: skip
    caller = await signed_in(request, FINANCE_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    _own_account(caller, account_id)
    back = own_url(return_url, context(request).settings)
    account = await _sandbox(request).retrieve_account(account_id=account_id)
    return templates.TemplateResponse(request, "sandbox/onboarding.html", {
        "account": account, "return_url": back, "caller": caller,
        "csrf": csrf_token(request)})  # fmt: skip


@router.post("/connect/{account_id}", include_in_schema=False)
async def complete_onboarding(
    account_id: str, request: Request, csrf: str = Form(""), return_url: str = Form("/dashboard")
) -> RedirectResponse:
    caller = await checked_caller(request, csrf, roles=FINANCE_ROLES, refusal=REFUSAL)
    _own_account(caller, account_id)
    back = own_url(return_url, context(request).settings)
    try:
        await _sandbox(request).complete_onboarding(account_id)
    except GatewayInvalidRequest:
        raise ConnectedAccountNotFound() from None
    return RedirectResponse(back, status_code=303)
