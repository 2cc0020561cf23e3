"""The bills API: create, import a CSV file, list with filters, read, cancel, write off."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fareroom.accounts.service import Caller
from fareroom.billing.schemas import AttemptOut, BillCreate, BillOut, ImportOut, LineOut
from fareroom.billing.service import CSV_COLUMNS, BillIn, BillView, LineIn
from fareroom.bootstrap import Services
from fareroom.http import Page, PathId, api_key, page_params, paginated, read, write
from fareroom.models.billing import Bill, BillStatus
from fareroom.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["billing"])


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
                     tag: str | None = None, due_on_or_before: date | None = None,
                     key: str = Depends(api_key)) -> dict[str, Any]:  # fmt: skip
    filters = {"status": status, "client_id": client_id, "tag": tag,
               "due_on_or_before": due_on_or_before}  # fmt: skip
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
