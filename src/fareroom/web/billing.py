"""The billing back office in the dashboard (owners, admins and finance users): bills (a
list with filters, a CSV import), payment runs (start one, its live progress bar, stop, run
again, the report as CSV; run definitions), and a customer's account (what it owes, its
cards, wallet and preference, its timeline), with the forms that change them.

Forms post and redirect back with a notice code; a form whose input is refused shows its
page again with the sentence (4xx), changing nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from fareroom.accounts.service import FINANCE_ROLES, Caller
from fareroom.billing.payouts import WEEKDAYS
from fareroom.billing.runs import Criteria, Progress
from fareroom.billing.service import MAX_IMPORT_BYTES, BillIn, LineIn
from fareroom.http import PathId, context
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.ids import has_prefix, new_id
from fareroom.kit.money import parse_major, parse_whole
from fareroom.models.billing import BillStatus
from fareroom.web.charts import bar_chart
from fareroom.web.pages import back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import money, templates

router = APIRouter(include_in_schema=False)
REFUSAL = "Billing is for owners, admins and finance users."
NOTICES = {
    "run_started": "The run started: its bills are being charged.",
    "run_stopped": "The run is stopped: no new charge starts.",
    "run_again": "The run is running again.",
    "defined": "The run definition was saved.",
    "imported": "The bills were imported.",
    "bill_created": "The bill was created: the customer owes it now.",
    "credit_added": "The credit was added to the wallet.",
    "card_saved": "The card was saved.",
    "card_deleted": "The card was deleted.",
    "preference_saved": "The payment preference was saved.",
    "customer_deleted": "The customer was deleted.",
    "refunded": "The refund was made.",
    "payment_cancelled": "The payment was cancelled, and refunded by its type's rule.",
    "paid_out": "The payout was made: it arrives on the day shown.",
    "schedule_saved": "The payout schedule was saved.",
}
STATUSES = [s.value for s in BillStatus]


async def _caller(request: Request) -> Caller | None:
    return await signed_in(request, FINANCE_ROLES, REFUSAL)


def _page(request: Request, name: str, caller: Caller, data: dict[str, Any], *,
          notice: str | None = None, problem: FareroomError | None = None) -> Response:  # fmt: skip
    return templates.TemplateResponse(request, name, {
        "caller": caller, "csrf": csrf_token(request), "notice": NOTICES.get(notice or ""),
        "error": problem.message if problem else None,
        "error_code": problem.code if problem else None, **data},
        status_code=problem.status if problem else 200)  # fmt: skip


Work = Callable[[Any, Caller], Awaitable[Any]]
Again = Callable[[Caller, FareroomError], Awaitable[Response]]


async def _posted(request: Request, csrf: str, work: Work, *, again: Again, done: str,
                  notice: str) -> Response:  # fmt: skip
    """A form's POST: its origin, token and role checked, ``work(services, caller)`` in one
    transaction; refused, ``again`` shows the form's page with the sentence (nothing
    changed); done, a redirect to ``done`` with the notice."""
    caller = await checked_caller(request, csrf, roles=FINANCE_ROLES)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            await work(s, caller)
    except FareroomError as exc:
        return await again(caller, exc)
    return back(done, notice=notice)


def _money(text: str, currency: str, label: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return parse_major(text, currency)
    except FareroomError as exc:
        raise ValidationFailed(f"{label}: {exc.message}", code=exc.code) from None


def _criteria(form: dict[str, str], currency: str) -> Criteria:
    days = form.get("due_within_days", "").strip()
    before = form.get("due_on_or_before", "").strip()
    try:
        due_on = date.fromisoformat(before) if before else None
    except ValueError:
        raise ValidationFailed("The due date is a date like 2026-12-31.",
                               code="invalid_date") from None  # fmt: skip
    return Criteria(
        due_on_or_before=due_on,
        due_within_days=parse_whole(days, label="days ahead", unit="days") if days else None,
        min_amount=_money(form.get("min_amount", ""), currency, "The smallest amount"),
        max_amount=_money(form.get("max_amount", ""), currency, "The largest amount"),
        tag=form.get("tag", "").strip() or None,
        recurring_only=form.get("recurring_only") == "on",
    ).checked()


def _run_json(p: Progress) -> dict[str, Any]:
    run = p.run
    return {"id": run.id, "status": run.status, "bills": run.bills, "done": p.done,
            "counts": p.counts, "amounts": p.amounts, "failures": p.failures}  # fmt: skip


# ---------------------------------------------------------------- runs


async def _runs_page(request: Request, caller: Caller, *, notice: str | None = None,
                     problem: FareroomError | None = None,
                     typed: dict[str, str] | None = None) -> Response:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as s:
        runs = await s.runs.list(caller.business_id, limit=50)
        definitions = await s.runs.definitions(caller.business_id)
    return _page(request, "dashboard/runs.html", caller,
                 {"runs": runs, "definitions": definitions, "typed": typed or {}},
                 notice=notice, problem=problem)  # fmt: skip


@router.get("/dashboard/runs", response_class=HTMLResponse)
async def runs_page(request: Request, notice: str | None = None) -> Response:
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _runs_page(request, caller, notice=notice)


@router.post("/dashboard/runs")
async def start_run(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    caller = await checked_caller(request, form.get("csrf", ""), roles=FINANCE_ROLES)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            criteria = _criteria(form, caller.business.default_currency)
            definition = form.get("definition_id", "").strip()
            if definition:
                run = await s.runs.start_from(
                    caller.business, definition, started_by=caller.user.id if caller.user else None
                )
            elif form.get("name", "").strip():  # save as a definition
                await s.runs.define(
                    caller.business,
                    name=form["name"],
                    criteria=criteria,
                    daily_at=form.get("daily_at", "").strip() or None,
                )
                return back("/dashboard/runs", notice="defined")
            else:
                run = await s.runs.start(
                    caller.business, criteria, started_by=caller.user.id if caller.user else None
                )
    except FareroomError as exc:
        return await _runs_page(request, caller, problem=exc, typed=form)
    return back(f"/dashboard/runs/{run.id}", notice="run_started")


@router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: PathId, notice: str | None = None) -> Response:
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _run_page(request, caller, run_id, notice=notice)


async def _run_page(request: Request, caller: Caller, run_id: str, *,
                    notice: str | None = None, problem: FareroomError | None = None
                    ) -> Response:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as s:
        progress = await s.runs.progress(caller.business_id, run_id)
    return _page(request, "dashboard/run.html", caller, {"p": progress, "run": progress.run},
                 notice=notice, problem=problem)  # fmt: skip


@router.get("/dashboard/runs/{run_id}/progress")
async def run_progress(request: Request, run_id: PathId) -> Response:
    """What the run page's progress bar follows (``billing-run.js``)."""
    caller = await _caller(request)
    if caller is None:
        return JSONResponse({"code": "unauthenticated"}, status_code=401)
    async with context(request).unit_of_work(caller.business_id) as s:
        progress = await s.runs.progress(caller.business_id, run_id)
    return JSONResponse(_run_json(progress), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/runs/{run_id}/report.csv")
async def run_report(request: Request, run_id: PathId) -> Response:
    caller = await _caller(request)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        text = await s.runs.report_csv(caller.business_id, run_id)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}.csv"'})  # fmt: skip


@router.post("/dashboard/runs/{run_id}/{action}")
async def change_run(request: Request, run_id: PathId, action: str,
                     csrf: str = Form("")) -> Response:  # fmt: skip
    async def work(s: Any, caller: Caller) -> None:
        if action == "stop":
            await s.runs.stop(caller.business, run_id)
        elif action == "again":
            await s.runs.again(caller.business, run_id)
        else:
            raise ValidationFailed("A run is stopped or run again.", code="invalid_action")

    async def again(caller: Caller, exc: FareroomError) -> Response:
        return await _run_page(request, caller, run_id, problem=exc)

    return await _posted(
        request,
        csrf,
        work,
        again=again,
        done=f"/dashboard/runs/{run_id}",
        notice="run_stopped" if action == "stop" else "run_again",
    )


# ---------------------------------------------------------------- bills


async def _bills_page(request: Request, caller: Caller, status: str | None, *,
                      notice: str | None = None, problem: FareroomError | None = None,
                      typed: dict[str, str] | None = None) -> Response:  # fmt: skip
    bid = caller.business_id
    async with context(request).unit_of_work(bid) as s:
        bills = await s.bills.list(bid, limit=100, status=BillStatus(status) if status in
                                   STATUSES else None)  # fmt: skip
        clients = {c.id: c.name for c in await s.clients.list(bid, limit=500, starting_after=None)}
    return _page(request, "dashboard/bills.html", caller,
                 {"bills": bills, "clients": clients, "status": status or "",
                  "statuses": STATUSES, "typed": typed or {}, "lines": range(1, FORM_LINES + 1),
                  "bill_id": new_id("bill")}, notice=notice, problem=problem)  # fmt: skip


@router.get("/dashboard/bills", response_class=HTMLResponse)
async def bills_page(request: Request, status: str | None = None,
                     notice: str | None = None) -> Response:  # fmt: skip
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _bills_page(request, caller, status, notice=notice)


FORM_LINES = 3  # a bill typed in the form (more lines: the API or a CSV file)


def _bill_of(form: dict[str, str], currency: str) -> BillIn:
    lines = []
    for n in range(1, FORM_LINES + 1):
        text, price = form.get(f"line{n}", "").strip(), form.get(f"price{n}", "").strip()
        if not text and not price:
            continue
        quantity = form.get(f"quantity{n}", "").strip()
        amount = _money(price, currency, f"Line {n}'s price")
        if amount is None:
            raise ValidationFailed(f"Line {n}: give its unit price, like 40.00.",
                                   code="price_required", line=n)  # fmt: skip
        count = parse_whole(quantity, label="quantity", unit="items") if quantity else 1
        lines.append(LineIn(text, count, amount))
    try:
        due_on = date.fromisoformat(form.get("due_on", "").strip())
    except ValueError:
        raise ValidationFailed("Give the day the bill is due, like 2026-12-31.",
                               code="invalid_due_date") from None  # fmt: skip
    return BillIn(
        client_id=form.get("client_id", ""),
        lines=lines,
        due_on=due_on,
        reference=form.get("reference", "").strip() or None,
        tag=form.get("tag", "").strip(),
        description=form.get("description", "").strip(),
    )


@router.post("/dashboard/bills")
async def create_bill(request: Request) -> Response:
    """A bill typed in the dashboard: a customer, up to three lines, a due date."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    caller = await checked_caller(request, form.get("csrf", ""), roles=FINANCE_ROLES)
    bill_id = form.get("bill_id", "")
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            if has_prefix(bill_id, "bill"):
                try:  # the form sent twice: the bill it made
                    await s.bills.get(caller.business_id, bill_id)
                    return back("/dashboard/bills", notice="bill_created")
                except FareroomError:
                    pass
            await s.bills.create(
                caller.business,
                _bill_of(form, caller.business.default_currency),
                bill_id=bill_id if has_prefix(bill_id, "bill") else None,
            )
    except FareroomError as exc:
        return await _bills_page(request, caller, None, problem=exc, typed=form)
    return back("/dashboard/bills", notice="bill_created")


@router.post("/dashboard/bills/import")
async def import_bills(request: Request, file: UploadFile, csrf: str = Form("")) -> Response:
    data = await file.read(MAX_IMPORT_BYTES + 1)

    async def work(s: Any, caller: Caller) -> None:
        await s.bills.import_csv(caller.business, data)

    async def again(caller: Caller, exc: FareroomError) -> Response:
        return await _bills_page(request, caller, None, problem=exc)

    return await _posted(request, csrf, work, again=again, done="/dashboard/bills",
                         notice="imported")  # fmt: skip


# ---------------------------------------------------------------- customers


async def _customer_page(request: Request, caller: Caller, client_id: str, *,
                         notice: str | None = None, problem: FareroomError | None = None
                         ) -> Response:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as s:
        account = await s.receivables.account(caller.business, client_id)
    return _page(request, "dashboard/customer.html", caller, {"a": account},
                 notice=notice, problem=problem)  # fmt: skip


@router.get("/dashboard/customers/{client_id}", response_class=HTMLResponse)
async def customer_page(request: Request, client_id: PathId,
                        notice: str | None = None) -> Response:  # fmt: skip
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _customer_page(request, caller, client_id, notice=notice)


async def _change(request: Request, client_id: str, csrf: str, notice: str, fn: Work,
                  done: str | None = None) -> Response:  # fmt: skip
    """A form of the customer's page."""

    async def again(caller: Caller, exc: FareroomError) -> Response:
        return await _customer_page(request, caller, client_id, problem=exc)

    return await _posted(request, csrf, fn, again=again, notice=notice,
                         done=done or f"/dashboard/customers/{client_id}")  # fmt: skip


@router.post("/dashboard/customers/{client_id}/credit")
async def add_credit(request: Request, client_id: PathId, csrf: str = Form(""),
                     amount: str = Form(""), note: str = Form("")) -> Response:  # fmt: skip
    async def fn(s: Any, caller: Caller) -> None:
        minor = _money(amount, caller.business.default_currency, "The credit")
        if minor is None:
            raise ValidationFailed("Type the credit to add, like 25.00.", code="amount_required")
        await s.wallets.credit(caller.business, client_id, minor, note=note.strip()[:200])

    return await _change(request, client_id, csrf, "credit_added", fn)


@router.post("/dashboard/customers/{client_id}/cards/{card_id}")
async def save_card(request: Request, client_id: PathId, card_id: PathId, csrf: str = Form(""),
                    default: str = Form(""), recurring: str = Form("")) -> Response:  # fmt: skip
    async def fn(s: Any, caller: Caller) -> None:
        await s.clients.update_card(caller.business_id, client_id, card_id,
                                    make_default=default == "on" or None,
                                    recurring_authorised=recurring == "on")  # fmt: skip

    return await _change(request, client_id, csrf, "card_saved", fn)


@router.post("/dashboard/customers/{client_id}/cards/{card_id}/delete")
async def delete_card(request: Request, client_id: PathId, card_id: PathId,
                      csrf: str = Form("")) -> Response:  # fmt: skip
    async def fn(s: Any, caller: Caller) -> None:
        await s.clients.delete_card(caller.business_id, client_id, card_id)

    return await _change(request, client_id, csrf, "card_deleted", fn)


@router.post("/dashboard/customers/{client_id}/preference")
async def save_preference(request: Request, client_id: PathId, csrf: str = Form(""),
                          pay_with: str = Form("card"), autopay_days: str = Form("")
                          ) -> Response:  # fmt: skip
    async def fn(s: Any, caller: Caller) -> None:
        days = parse_whole(autopay_days, label="days", unit="days") if autopay_days.strip() \
            else None  # fmt: skip
        await s.clients.set_preference(caller.business_id, client_id, pay_with=pay_with,
                                       card_id=None, autopay_days=days)  # fmt: skip

    return await _change(request, client_id, csrf, "preference_saved", fn)


# ---------------------------------------------------------------- overview, customers

COUNTS = {"day": 30, "week": 12, "month": 12}


def _label(start: date, unit: str) -> str:
    return start.strftime("%b %Y") if unit == "month" else start.strftime("%d %b")


@router.get("/dashboard/overview", response_class=HTMLResponse)
async def overview(request: Request, unit: str = "day") -> Response:
    """Gross volume, successful charges, refunds and new customers per day, week or month,
    drawn as SVG from the daily figures."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    unit = unit if unit in COUNTS else "day"
    biz = caller.business
    ctx = context(request)
    async with ctx.unit_of_work(biz.id) as s:
        buckets = await s.revenue.series(
            biz.id,
            biz.default_currency,
            unit=unit,
            count=COUNTS[unit],
            until=ctx.clock.now().date(),
        )
    labels = [_label(b.start, unit) for b in buckets]
    cur = biz.default_currency

    def amount(value: int) -> str:
        return money(value, cur)

    charts = [
        ("Gross volume", bar_chart([b.gross for b in buckets], labels, title="Gross volume",
                                   chart_id="chart-gross", fmt=amount),
         amount(sum(b.gross for b in buckets))),
        ("Successful charges", bar_chart([b.charges for b in buckets], labels,
                                         title="Successful charges", chart_id="chart-charges"),
         str(sum(b.charges for b in buckets))),
        ("Refunds", bar_chart([b.refunded for b in buckets], labels, title="Refunds",
                              chart_id="chart-refunds", fmt=amount),
         amount(sum(b.refunded for b in buckets))),
        ("New customers", bar_chart([b.customers for b in buckets], labels,
                                    title="New customers", chart_id="chart-customers"),
         str(sum(b.customers for b in buckets))),
    ]  # fmt: skip
    return _page(request, "dashboard/overview.html", caller,
                 {"charts": charts, "unit": unit, "count": COUNTS[unit]})  # fmt: skip


@router.get("/dashboard/customers", response_class=HTMLResponse)
async def customers_page(request: Request, q: str = "", notice: str | None = None,
                         after: str | None = None) -> Response:  # fmt: skip
    """Customers newest first, or those whose name or email starts with ``q``."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    q = q.strip()[:100]
    async with context(request).unit_of_work(caller.business_id) as s:
        if q:
            found = list(await s.clients.search(caller.business_id, q, limit=50))
        else:
            found = list(await s.clients.list(caller.business_id, limit=51,
                                              starting_after=after if after and has_prefix(
                                                  after, "cli") else None))  # fmt: skip
    more = not q and len(found) > 50
    return _page(request, "dashboard/customers.html", caller,
                 {"customers": found[:50], "q": q,
                  "older": found[49].id if more else None}, notice=notice)  # fmt: skip


@router.post("/dashboard/customers/{client_id}/delete")
async def delete_customer(request: Request, client_id: PathId, csrf: str = Form("")) -> Response:
    async def fn(s: Any, caller: Caller) -> None:
        await s.receivables.delete_customer(caller.business, client_id)

    return await _change(request, client_id, csrf, "customer_deleted", fn,
                         done="/dashboard/customers")  # fmt: skip


# ---------------------------------------------------------------- a payment


async def _payment_page(request: Request, caller: Caller, payment_id: str, *,
                        notice: str | None = None, problem: FareroomError | None = None
                        ) -> Response:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as s:
        detail = await s.receivables.payment(caller.business, payment_id)
        types = await s.cancellations.types(caller.business_id)
    p = detail.view.payment
    return _page(request, "dashboard/payment.html", caller,
                 {"d": detail, "p": p, "types": types, "refund_id": new_id("re"),
                  "left": p.amount_captured - p.amount_refunded}, notice=notice,
                 problem=problem)  # fmt: skip


@router.get("/dashboard/payments/{payment_id}", response_class=HTMLResponse)
async def payment_page(request: Request, payment_id: PathId,
                       notice: str | None = None) -> Response:  # fmt: skip
    """A payment: what it paid for, its timeline of gateway requests, refunds with their
    reasons, a cancellation, and the forms that refund or cancel it."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _payment_page(request, caller, payment_id, notice=notice)


@router.post("/dashboard/payments/{payment_id}/refund-here")
async def refund_here(request: Request, payment_id: PathId, csrf: str = Form(""),
                      amount: str = Form(""), reason: str = Form(""),
                      refund_id: str = Form("")) -> Response:  # fmt: skip
    """A refund from the payment's page: the amount typed, or everything that is left."""

    async def work(s: Any, caller: Caller) -> None:
        payment = (await s.payments.get(caller.business_id, payment_id)).payment
        await s.payments.refund(
            caller.business, payment_id, reason=reason.strip()[:200],
            amount=_money(amount, payment.currency, "The refund"),
            refund_id=refund_id if has_prefix(refund_id, "re") else None)  # fmt: skip

    return await _on_payment(request, payment_id, csrf, work, "refunded")


async def _on_payment(request: Request, payment_id: str, csrf: str, work: Work,
                      notice: str) -> Response:  # fmt: skip
    """A form of the payment's page."""

    async def again(caller: Caller, exc: FareroomError) -> Response:
        return await _payment_page(request, caller, payment_id, problem=exc)

    return await _posted(request, csrf, work, again=again, notice=notice,
                         done=f"/dashboard/payments/{payment_id}")  # fmt: skip


@router.post("/dashboard/payments/{payment_id}/cancel")
async def cancel_payment(request: Request, payment_id: PathId, csrf: str = Form(""),
                         type_id: str = Form(""), reason: str = Form("")) -> Response:  # fmt: skip
    async def work(s: Any, caller: Caller) -> None:
        await s.cancellations.cancel(caller.business, payment_id, type_id=type_id,
                                     reason=reason.strip()[:300])  # fmt: skip

    return await _on_payment(request, payment_id, csrf, work, "payment_cancelled")


# ---------------------------------------------------------------- the gateway request log

OPERATIONS = ("create_customer", "attach_card", "detach_card", "create_charge", "capture",
              "cancel", "refund", "create_account", "create_payout")  # fmt: skip


@router.get("/dashboard/gateway-log", response_class=HTMLResponse)
async def gateway_log(request: Request, outcome: str = "", operation: str = "", code: str = "",
                      after: str = "") -> Response:  # fmt: skip
    """Every request to the gateway for the business, newest first, 50 a page, filtered by
    outcome, operation and error or decline code (so a business sees why cards failed)."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    filters = {
        "outcome": outcome if outcome in ("ok", "error") else "",
        "operation": operation if operation in OPERATIONS else "",
        "code": code.strip()[:60] if code.strip().replace("_", "").isalnum() else "",
    }
    async with context(request).unit_of_work(caller.business_id) as s:
        found = list(await s.payments.gateway_requests(
            caller.business_id, limit=51, starting_after=after if has_prefix(after, "greq")
            else None, **{k: v or None for k, v in filters.items()}))  # fmt: skip
    more = len(found) > 50
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return _page(request, "dashboard/gateway_log.html", caller,
                 {"requests": found[:50], "filters": filters, "operations": OPERATIONS,
                  "older": f"?{query}&after={found[49].id}" if more else None})  # fmt: skip


# ---------------------------------------------------------------- payments as CSV


@router.get("/dashboard/payments.csv")
async def payments_csv(request: Request) -> Response:
    """Every payment of the business, newest first, as CSV: read a thousand at a time (a
    keyset, each page in a transaction of its own) and sent as it is read."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    ctx, bid = context(request), caller.business_id

    async def rows() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "created_at", "client_id", "status", "currency", "amount",
                         "captured", "refunded", "platform_fee", "processing_fee", "net",
                         "description"])  # fmt: skip
        after = None
        while True:
            async with ctx.unit_of_work(bid) as s:
                page = await s.payments.list(bid, limit=1_000, starting_after=after)
            for v in page:
                p = v.payment
                writer.writerow([p.id, p.created_at.isoformat(), p.client_id, p.status,
                                 p.currency, p.amount, p.amount_captured, p.amount_refunded,
                                 p.platform_fee, p.processing_fee,
                                 p.business_net - p.amount_refunded, p.description])  # fmt: skip
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(page) < 1_000:
                return
            after = page[-1].payment.id

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="payments.csv"'})  # fmt: skip


# ---------------------------------------------------------------- payouts


async def _payouts_page(request: Request, caller: Caller, *, notice: str | None = None,
                        problem: FareroomError | None = None) -> Response:  # fmt: skip
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.payouts.view(caller.business)
    return _page(request, "dashboard/payouts.html", caller,
                 {"v": view, "weekdays": WEEKDAYS, "payout_id": new_id("po")},
                 notice=notice, problem=problem)  # fmt: skip


@router.get("/dashboard/payouts", response_class=HTMLResponse)
async def payouts_page(request: Request, notice: str | None = None) -> Response:
    """The available balance, the next automatic payout, past payouts with the day each
    arrives, and the transfers (captured payments' net) that made the balance."""
    caller = await _caller(request)
    if caller is None:
        return to_login()
    return await _payouts_page(request, caller, notice=notice)


@router.post("/dashboard/payouts")
async def pay_out(request: Request, csrf: str = Form(""), amount: str = Form(""),
                  payout_id: str = Form("")) -> Response:  # fmt: skip
    async def work(s: Any, caller: Caller) -> None:
        minor = _money(amount, caller.business.default_currency, "The payout")
        if minor is None:  # all that is available
            minor = await s.payouts.available(caller.business)
        await s.payments.payout(
            caller.business,
            amount=minor,
            payout_id=payout_id if has_prefix(payout_id, "po") else None,
        )

    return await _on_payouts(request, csrf, work, "paid_out")


async def _on_payouts(request: Request, csrf: str, work: Work, notice: str) -> Response:
    async def again(caller: Caller, exc: FareroomError) -> Response:
        return await _payouts_page(request, caller, problem=exc)

    return await _posted(request, csrf, work, again=again, done="/dashboard/payouts",
                         notice=notice)  # fmt: skip


@router.post("/dashboard/payouts/schedule")
async def payout_schedule(request: Request, csrf: str = Form(""), schedule: str = Form(""),
                          weekday: str = Form("")) -> Response:  # fmt: skip
    async def work(s: Any, caller: Caller) -> None:
        day = int(weekday) if weekday.isdigit() and len(weekday) == 1 else None
        await s.payouts.set_schedule(caller.business, schedule, day)

    return await _on_payouts(request, csrf, work, "schedule_saved")
