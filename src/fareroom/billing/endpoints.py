"""The billing API: bills (create, import a CSV file, list with filters, read, cancel, write
off); payment runs (start one, ad hoc or from a definition, follow its progress, stop it, run
it again, its report as CSV); run definitions; the business's collection rules."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from fareroom.accounts.service import Caller
from fareroom.billing.runs import Criteria, Progress
from fareroom.billing.schemas import (
    AccountOut,
    AttemptOut,
    AutoTopUp,
    BillCreate,
    BillingSettingsIn,
    BillingSettingsOut,
    BillOut,
    CancellationTypeCreate,
    CancellationTypeOut,
    Credit,
    CriteriaIn,
    DefinitionCreate,
    DefinitionOut,
    EventOut,
    ImportOut,
    LineOut,
    MovementOut,
    PaymentCancel,
    PaymentCancellationOut,
    PreferenceIn,
    RunCreate,
    RunOut,
    TopUp,
    WalletOut,
)
from fareroom.billing.service import CSV_COLUMNS, BillIn, BillView, LineIn
from fareroom.billing.wallets import WalletView
from fareroom.bootstrap import Services
from fareroom.clients.schemas import ClientOut
from fareroom.http import Page, PathId, api_key, page_params, paginated, read, write
from fareroom.kit.errors import ValidationFailed
from fareroom.models.billing import Bill, BillStatus, PaymentRun
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["billing"])


def parse_day(text: str | None) -> date | None:
    """A day typed as 2026-12-31 (the pattern let only such text through), or why not."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a day of the calendar.",
                               code="invalid_date") from None  # fmt: skip


def render(view: BillView | Bill) -> BillOut:
    bill = view.bill if isinstance(view, BillView) else view
    out = BillOut.model_validate(bill).model_copy(
        update={"amount_due": bill.amount - bill.amount_paid
                if bill.status in (BillStatus.UNSETTLED, BillStatus.PARTLY_PAID) else 0}
    )  # fmt: skip
    if isinstance(view, BillView):
        out.lines = [LineOut.model_validate(line) for line in view.lines]
        out.attempts = [AttemptOut.model_validate(a) for a in view.attempts]
    return out


def _spec(body: BillCreate) -> BillIn:
    return BillIn(
        client_id=body.client_id, currency=body.currency, issued_on=body.issued_on,
        due_on=body.due_on, reference=body.reference, tag=body.tag,
        description=body.description,
        lines=[LineIn(line.description, line.quantity, line.unit_amount, line.currency)
               for line in body.lines])  # fmt: skip


@router.post("/bills", status_code=201, response_model=BillOut, responses=problems(404, 409))
async def create_bill(body: BillCreate, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> BillOut:
        return render(await s.bills.create(caller.business, _spec(body), bill_id=rid))

    return await write(request, key, body, prefix="bill", fn=run)


class _File(BaseModel):
    """What an ``Idempotency-Key`` is bound to for a file: its digest."""

    sha256: str


@router.post(
    "/bills/import", status_code=201, response_model=ImportOut, responses=problems(409),
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
        "type": "string", "description": "A header row naming the columns ("
        + ", ".join(CSV_COLUMNS) + "), then a row per line of a bill; rows of one bill "
        "share its reference. unit_price in major units (12.50)."}}}}},
)  # fmt: skip
async def import_bills(request: Request, key: str = Depends(api_key)) -> JSONResponse:
    data = await request.body()

    async def run(s: Services, caller: Caller, _: str | None) -> ImportOut:
        bills = await s.bills.import_csv(caller.business, data)
        return ImportOut(created=len(bills), bills=[render(b) for b in bills])

    return await write(request, key, _File(sha256=hashlib.sha256(data).hexdigest()),
                       prefix="imp", fn=run)  # fmt: skip


@router.get("/bills", response_model=dict[str, Any])
async def list_bills(request: Request, page: Page = Depends(page_params),
                     status: BillStatus | None = None, client_id: str | None = None,
                     tag: str | None = None,
                     due_on_or_before: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                          description="A date: 2026-12-31"),
                     key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    filters = {"status": status, "client_id": client_id, "tag": tag,
               "due_on_or_before": parse_day(due_on_or_before)}  # fmt: skip
    bills = await read(request, key, lambda s, caller: s.bills.list(
        caller.business_id, limit=page.limit + 1, starting_after=page.starting_after,
        **filters))  # fmt: skip
    return paginated(bills, page, render, lambda b: b.id)


@router.get("/bills/{bill_id}", response_model=BillOut, responses=problems(404))
async def get_bill(bill_id: PathId, request: Request, key: str = Depends(api_key)) -> BillOut:
    return render(await read(request, key, lambda s, c: s.bills.get(c.business_id, bill_id)))


@router.post("/bills/{bill_id}/cancel", response_model=BillOut, responses=problems(404, 409))
async def cancel_bill(bill_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> BillOut:
        return render(await s.bills.cancel(caller.business, bill_id))

    return await write(request, key, None, prefix="bcan", fn=run, status=200)


@router.post("/bills/{bill_id}/write-off", response_model=BillOut, responses=problems(404, 409))
async def write_off_bill(bill_id: PathId, request: Request,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> BillOut:
        return render(await s.bills.write_off(caller.business, bill_id))

    return await write(request, key, None, prefix="boff", fn=run, status=200)


# ---------------------------------------------------------------- payment runs


def criteria_of(body: CriteriaIn) -> Criteria:
    return Criteria(due_on_or_before=body.due_on_or_before, due_within_days=body.due_within_days,
                    min_amount=body.min_amount, max_amount=body.max_amount,
                    currency=body.currency, tag=body.tag,
                    recurring_only=body.recurring_only)  # fmt: skip


def run_out(found: Progress | PaymentRun) -> RunOut:
    run = found.run if isinstance(found, Progress) else found
    out = RunOut.model_validate(run)
    if isinstance(found, Progress):
        out = out.model_copy(
            update={
                "done": found.done,
                "counts": found.counts,
                "amounts": found.amounts,
                "failures": found.failures,
            }
        )
    return out


@router.post("/payment-runs", status_code=201, response_model=RunOut,
             responses=problems(404, 409))  # fmt: skip
async def start_run(body: RunCreate, request: Request,
                    key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, rid: str | None) -> RunOut:
        if body.definition_id is not None:
            if body.model_dump(exclude={"definition_id"}, exclude_defaults=True):
                raise ValidationFailed("A run of a definition takes the definition's criteria; "
                                       "give no other.", code="invalid_criteria")  # fmt: skip
            started = await s.runs.start_from(
                caller.business,
                body.definition_id,
                started_by=caller.user.id if caller.user else None,
                run_id=rid,
            )
        else:
            started = await s.runs.start(
                caller.business,
                criteria_of(body),
                started_by=caller.user.id if caller.user else None,
                run_id=rid,
            )
        return run_out(await s.runs.progress(caller.business_id, started.id))

    return await write(request, key, body, prefix="run", fn=run)


@router.get("/payment-runs", response_model=dict[str, Any])
async def list_runs(request: Request, page: Page = Depends(page_params),
                    key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    runs = await read(
        request,
        key,
        lambda s, caller: s.runs.list(
            caller.business_id, limit=page.limit + 1, starting_after=page.starting_after
        ),
    )
    return paginated(runs, page, run_out, lambda r: r.id)


@router.get("/payment-runs/{run_id}", response_model=RunOut, responses=problems(404))
async def get_run(run_id: PathId, request: Request, key: str = Depends(api_key)) -> RunOut:
    return run_out(await read(request, key, lambda s, c: s.runs.progress(c.business_id, run_id)))


@router.get("/payment-runs/{run_id}/report.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}, **problems(404)})  # fmt: skip
async def run_report(run_id: PathId, request: Request, key: str = Depends(api_key)) -> Response:
    text = await read(request, key, lambda s, c: s.runs.report_csv(c.business_id, run_id))
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}.csv"'})  # fmt: skip


@router.post("/payment-runs/{run_id}/stop", response_model=RunOut,
             responses=problems(404, 409))  # fmt: skip
async def stop_run(run_id: PathId, request: Request,
                   key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> RunOut:
        await s.runs.stop(caller.business, run_id)
        return run_out(await s.runs.progress(caller.business_id, run_id))

    return await write(request, key, None, prefix="rstop", fn=run, status=200)


@router.post("/payment-runs/{run_id}/run-again", response_model=RunOut,
             responses=problems(404, 409))  # fmt: skip
async def run_again(run_id: PathId, request: Request,
                    key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> RunOut:
        await s.runs.again(caller.business, run_id)
        return run_out(await s.runs.progress(caller.business_id, run_id))

    return await write(request, key, None, prefix="ragain", fn=run, status=200)


@router.post("/run-definitions", status_code=201, response_model=DefinitionOut)
async def define_run(body: DefinitionCreate, request: Request,
                     key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> DefinitionOut:
        found = await s.runs.define(
            caller.business,
            name=body.name,
            criteria=criteria_of(body.criteria),
            daily_at=body.daily_at,
        )
        return DefinitionOut.model_validate(found)

    return await write(request, key, body, prefix="rdef", fn=run)


@router.get("/run-definitions", response_model=list[DefinitionOut])
async def list_definitions(request: Request,
                           key: str = Depends(api_key)) -> list[DefinitionOut]:  # fmt: skip
    found = await read(request, key, lambda s, c: s.runs.definitions(c.business_id))
    return [DefinitionOut.model_validate(d) for d in found]


@router.get("/billing-settings", response_model=BillingSettingsOut)
async def get_settings(request: Request, key: str = Depends(api_key)) -> BillingSettingsOut:
    return BillingSettingsOut.model_validate(
        await read(request, key, lambda s, c: s.bills.billing_settings(c.business_id))
    )


@router.put("/billing-settings", response_model=BillingSettingsOut)
async def put_settings(body: BillingSettingsIn, request: Request,
                       key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> BillingSettingsOut:
        return BillingSettingsOut.model_validate(await s.bills.update_billing_settings(
            caller.business_id, retry_days=body.retry_days, autopay_days=body.autopay_days,
            reminders=body.reminders))  # fmt: skip

    return await write(request, key, body, prefix="bset", fn=run, status=200)


# ---------------------------------------------------------------- wallets, preference


def wallet_out(view: WalletView) -> WalletOut:
    w = view.wallet
    return WalletOut(currency=view.currency, balance=view.balance,
                     threshold=w.threshold if w else None, target=w.target if w else None,
                     failures=w.failures if w else 0, next_topup_on=w.next_topup_on if w else None,
                     last_failure=w.last_failure if w else None,
                     movements=[MovementOut.model_validate(m) for m in view.movements])  # fmt: skip


@router.get("/clients/{client_id}/wallet", response_model=WalletOut, responses=problems(404))
async def get_wallet(client_id: PathId, request: Request,
                     key: str = Depends(api_key)) -> WalletOut:  # fmt: skip
    return wallet_out(await read(request, key,
                                 lambda s, c: s.wallets.view(c.business, client_id)))  # fmt: skip


@router.put("/clients/{client_id}/wallet/auto-top-up", response_model=WalletOut,
            responses=problems(404))  # fmt: skip
async def set_auto_top_up(client_id: PathId, body: AutoTopUp, request: Request,
                          key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> WalletOut:
        return wallet_out(
            await s.wallets.configure(
                caller.business, client_id, threshold=body.threshold, target=body.target
            )
        )

    return await write(request, key, body, prefix="wauto", fn=run, status=200)


@router.post("/clients/{client_id}/wallet/top-up", status_code=201, response_model=WalletOut,
             responses=problems(402, 404))  # fmt: skip
async def top_up(client_id: PathId, body: TopUp, request: Request,
                 key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Charge the client's default card and credit the wallet once the payment succeeded."""

    async def run(s: Services, caller: Caller, rid: str | None) -> WalletOut:
        await s.wallets.top_up(caller.business, client_id, body.amount, payment_id=rid)
        return wallet_out(await s.wallets.view(caller.business, client_id))

    return await write(request, key, body, prefix="pay", fn=run)


@router.post("/clients/{client_id}/wallet/credit", status_code=201, response_model=WalletOut,
             responses=problems(404))  # fmt: skip
async def add_credit(client_id: PathId, body: Credit, request: Request,
                     key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Credit the business gives the client (no payment)."""

    async def run(s: Services, caller: Caller, _: str | None) -> WalletOut:
        await s.wallets.credit(caller.business, client_id, body.amount, note=body.note)
        return wallet_out(await s.wallets.view(caller.business, client_id))

    return await write(request, key, body, prefix="wcred", fn=run)


@router.put("/clients/{client_id}/payment-preference", response_model=ClientOut,
            responses=problems(404))  # fmt: skip
async def set_preference(client_id: PathId, body: PreferenceIn, request: Request,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> ClientOut:
        client = await s.clients.set_preference(caller.business_id, client_id,
                                                pay_with=body.pay_with, card_id=body.card_id,
                                                autopay_days=body.autopay_days)  # fmt: skip
        return ClientOut.model_validate(client)

    return await write(request, key, body, prefix="cpref", fn=run, status=200)


# ---------------------------------------------------------------- cancellation types


@router.post("/cancellation-types", status_code=201, response_model=CancellationTypeOut,
             responses=problems(409))  # fmt: skip
async def define_cancellation_type(body: CancellationTypeCreate, request: Request,
                                   key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    async def run(s: Services, caller: Caller, _: str | None) -> CancellationTypeOut:
        return CancellationTypeOut.model_validate(
            await s.cancellations.define(
                caller.business, name=body.name, refund_percent=body.refund_percent
            )
        )

    return await write(request, key, body, prefix="ctype", fn=run)


@router.get("/cancellation-types", response_model=list[CancellationTypeOut])
async def list_cancellation_types(
    request: Request, key: str = Depends(api_key)
) -> list[CancellationTypeOut]:
    found = await read(request, key, lambda s, c: s.cancellations.types(c.business_id))
    return [CancellationTypeOut.model_validate(t) for t in found]


@router.post("/payments/{payment_id}/cancellations", status_code=201,
             response_model=PaymentCancellationOut, responses=problems(404, 409))  # fmt: skip
async def cancel_payment(payment_id: PathId, body: PaymentCancel, request: Request,
                         key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Cancel a payment with a cancellation type: it refunds the type's share of the payment
    through the gateway (a hold is released)."""

    async def run(s: Services, caller: Caller, _: str | None) -> PaymentCancellationOut:
        done = await s.cancellations.cancel(
            caller.business, payment_id, type_id=body.cancellation_type_id, reason=body.reason
        )
        return PaymentCancellationOut.model_validate(done.cancellation).model_copy(
            update={"payment_status": done.payment_status}
        )

    return await write(request, key, body, prefix="pcan", fn=run)


# ---------------------------------------------------------------- accounts receivable


@router.get("/clients/{client_id}/account", response_model=AccountOut, responses=problems(404))
async def get_account(client_id: PathId, request: Request,
                      key: str = Depends(api_key)) -> AccountOut:  # fmt: skip
    """The client's account receivable: what it owes, how it pays, and its timeline."""
    found = await read(request, key, lambda s, c: s.receivables.account(c.business, client_id))
    client = found.client.client
    return AccountOut(
        client_id=client.id, name=client.name, email=client.email, currency=found.currency,
        receivable=found.receivable, open_bills=[render(b) for b in found.open_bills],
        wallet=wallet_out(found.wallet), pay_with=client.pay_with,
        default_card_id=client.default_card_id,
        cards=[{"id": c.id, "brand": c.brand, "last4": c.last4, "exp_month": c.exp_month,
                "exp_year": c.exp_year, "recurring_authorised": c.recurring_authorised}
               for c in found.client.cards],
        recurring_card_ids=[c.id for c in found.client.cards if c.recurring_authorised],
        timeline=[EventOut.model_validate(e) for e in found.timeline])  # fmt: skip
