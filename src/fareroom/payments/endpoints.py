from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.http import Page, PathId, api_key, page_params, paginated, read, write
from fareroom.openapi import problems
from fareroom.payments.schemas import (
    BalanceLine,
    BalanceOut,
    CaptureRequest,
    ConnectOut,
    GatewayRequestOut,
    OnboardingRequest,
    PaymentCreate,
    PaymentOut,
    PayoutCreate,
    PayoutOut,
    RefundCreate,
    RefundOut,
)
from fareroom.payments.service import PaymentView

router = APIRouter(prefix="/api/v1", tags=["payments"])


def render(view: PaymentView) -> PaymentOut:
    p = view.payment
    return PaymentOut.model_validate(p).model_copy(
        update={
            "refunds": [RefundOut.model_validate(r) for r in view.refunds],
            "net": p.business_net - p.amount_refunded,
            "refund_status": view.refund_status,
        }
    )


@router.post("/payments", status_code=201, response_model=PaymentOut, responses=problems(402, 404))
async def create_payment(body: PaymentCreate, request: Request,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> PaymentOut:
        payment = await s.payments.charge(
            caller.business,
            client_id=body.client_id,
            card_id=body.card_id,
            amount=body.amount,
            currency=body.currency,
            category=body.category,
            capture=body.capture,
            description=body.description,
            payment_id=rid,
        )
        return render(PaymentView(payment, []))

    return await write(request, key, body, prefix="pay", fn=run)


@router.get("/payments", response_model=dict[str, Any])
async def list_payments(request: Request, page: Page = Depends(page_params),
                        client_id: str | None = None,
                        key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    views = await read(
        request,
        key,
        lambda s, caller: s.payments.list(
            caller.business_id,
            limit=page.limit + 1,
            starting_after=page.starting_after,
            client_id=client_id,
        ),
    )
    return paginated(views, page, render, lambda v: v.payment.id)


@router.get("/payments/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> PaymentOut:  # fmt: skip
    return render(
        await read(request, key, lambda s, caller: s.payments.get(caller.business_id, payment_id))
    )


@router.post("/payments/{payment_id}/capture", response_model=PaymentOut, responses=problems(402))
async def capture_payment(payment_id: PathId, request: Request, body: CaptureRequest | None = None,
                          key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    body = body or CaptureRequest()

    async def run(s: Services, caller: Caller, _: str | None) -> PaymentOut:
        # A hold has no refunds, so the captured payment is the whole answer.
        return render(
            PaymentView(
                await s.payments.capture(caller.business, payment_id, amount=body.amount), []
            )
        )

    return await write(request, key, body, prefix="cap", fn=run, status=200)


@router.post("/payments/{payment_id}/cancel", response_model=PaymentOut)
async def cancel_payment(payment_id: PathId, request: Request,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> PaymentOut:
        return render(PaymentView(await s.payments.cancel(caller.business, payment_id), []))

    return await write(request, key, None, prefix="can", fn=run, status=200)


@router.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut)
async def refund_payment(payment_id: PathId, request: Request, body: RefundCreate | None = None,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    body = body or RefundCreate()

    async def run(s: Services, caller: Caller, rid: str | None) -> RefundOut:
        refund = await s.payments.refund(
            caller.business, payment_id, amount=body.amount, reason=body.reason, refund_id=rid
        )
        return RefundOut.model_validate(refund)

    return await write(request, key, body, prefix="re", fn=run)


@router.get("/balance", response_model=BalanceOut)
async def balance(request: Request, key: str = Depends(api_key)) -> BalanceOut:
    async def run(s: Services, caller: Caller) -> BalanceOut:
        summary = await s.ledger.business_summary(caller.business_id)
        lines = [BalanceLine(currency=cur, **values) for cur, values in summary.items()]
        zero = BalanceLine(
            currency=caller.business.default_currency,
            available=0,
            gross=0,
            platform_fees=0,
            processing_fees=0,
            refunds=0,
            payouts=0,
            net=0,
        )
        return BalanceOut(balances=lines or [zero])

    return await read(request, key, run)


@router.post("/payouts", status_code=201, response_model=PayoutOut)
async def create_payout(body: PayoutCreate, request: Request,
                        key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> PayoutOut:
        payout = await s.payments.payout(
            caller.business, amount=body.amount, currency=body.currency, payout_id=rid
        )
        return PayoutOut.model_validate(payout)

    return await write(request, key, body, prefix="po", fn=run)


@router.get("/payouts", response_model=dict[str, Any])
async def list_payouts(request: Request, page: Page = Depends(page_params),
                       key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    items = await read(
        request, key, lambda s, caller: s.payments.payouts(caller.business_id, limit=page.limit + 1)
    )
    return paginated(items, page, PayoutOut.model_validate, lambda p: p.id)


@router.get("/gateway-requests", response_model=dict[str, Any])
async def gateway_requests(request: Request, page: Page = Depends(page_params),
                           key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    items = await read(
        request,
        key,
        lambda s, caller: s.payments.gateway_requests(
            caller.business_id, limit=page.limit + 1, starting_after=page.starting_after
        ),
    )
    return paginated(items, page, GatewayRequestOut.model_validate, lambda g: g.id)


@router.post("/connect/onboarding", response_model=ConnectOut)
async def connect_onboarding(request: Request, body: OnboardingRequest | None = None,
                             key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    body = body or OnboardingRequest()

    async def run(s: Services, caller: Caller, _: str | None) -> ConnectOut:
        biz = await s.accounts.business_for_update(caller.business_id)
        ctx_url = str(request.base_url).rstrip("/")
        url = await s.payments.start_onboarding(
            biz,
            email=body.email or f"owner+{biz.id}@example.com",
            return_url=body.return_url or f"{ctx_url}/dashboard",
        )
        return ConnectOut(
            account_id=biz.gateway_account_id, status=biz.connect_status, onboarding_url=url
        )

    return await write(request, key, body, prefix="acct", fn=run, status=200)


@router.get("/connect", response_model=ConnectOut)
async def connect_status(request: Request,
                         key: str = Depends(api_key)) -> ConnectOut:  # fmt: skip
    async def run(s: Services, caller: Caller) -> ConnectOut:
        biz = await s.payments.refresh_account(
            await s.accounts.business_for_update(caller.business_id)
        )
        return ConnectOut(account_id=biz.gateway_account_id, status=biz.connect_status)

    return await read(request, key, run)
