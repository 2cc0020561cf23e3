"""Sign-in and the first dashboard page: payments with fees, refunds, the gateway log.

Forms carry a CSRF token derived from the session token (HMAC with the secret key); the
cookie is HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fareroom.accounts.service import FINANCE_ROLES, Caller
from fareroom.http import context, peer_address
from fareroom.kit.errors import FareroomError, Forbidden, Unauthenticated, ValidationFailed
from fareroom.kit.money import parse_major
from fareroom.kit.ratelimit import RateLimited
from fareroom.web.render import money, templates

router = APIRouter(include_in_schema=False)
COOKIE = "fareroom_session"


def csrf_token(request: Request) -> str:
    """The token a signed-in page's forms carry (derived from its session cookie)."""
    token = request.cookies.get(COOKIE, "")
    secret = context(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()[:32]


async def page_caller(request: Request) -> Caller:
    ctx = context(request)
    async with ctx.unit_of_work() as services:
        return await services.accounts.session_caller(request.cookies.get(COOKIE))


async def signed_in(request: Request, roles: frozenset[str] | tuple[str, ...],
                    refusal: str) -> Caller | None:  # fmt: skip
    """The page's caller, if their role is one of ``roles``; None when nobody is signed in
    (the page sends them to /login)."""
    try:
        caller = await page_caller(request)
    except Unauthenticated:
        return None
    if caller.role not in roles:
        raise Forbidden(refusal, code="role_forbidden")
    return caller


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


async def checked_caller(request: Request, csrf: str, *, roles: frozenset[str] | None = None,
                         refusal: str = "Your role may not do this.") -> Caller:  # fmt: skip
    """The caller of a form's POST: signed in, the form's CSRF token, and one of ``roles``."""
    caller = await page_caller(request)
    if not hmac.compare_digest(csrf, csrf_token(request)):
        raise Forbidden("The form expired; reload the page and try again.", code="csrf_failed")
    if roles is not None and caller.role not in roles:
        raise Forbidden(refusal, code="role_forbidden")
    return caller


def back(path: str, **message: str) -> RedirectResponse:
    query = f"?{urlencode(message)}" if message else ""
    return RedirectResponse(path + query, status_code=303)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login")
async def login(request: Request, email: str = Form(""), password: str = Form("")) -> Response:
    try:
        async with context(request).unit_of_work() as services:
            token = await services.accounts.login(
                email=email, password=password, address=peer_address(request)
            )
    except (Unauthenticated, RateLimited) as exc:
        wait = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return templates.TemplateResponse(request, "login.html",
                                          {"error": exc.message, "email": email},
                                          status_code=exc.status, headers=wait)  # fmt: skip
    async with context(request).unit_of_work() as services:
        role = (await services.accounts.session_caller(token)).role
    response = RedirectResponse("/console" if role == "agent" else "/dashboard", status_code=303)
    secure = context(request).settings.base_url.startswith("https")
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=14 * 24 * 3600
    )
    return response


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")) -> Response:
    await checked_caller(request, csrf)
    async with context(request).unit_of_work() as services:
        await services.accounts.logout(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, notice: str | None = None,
                    error: str | None = None) -> Response:  # fmt: skip
    caller = await signed_in(request, FINANCE_ROLES,
                             "The dashboard is for owners, admins and finance users.")  # fmt: skip
    if caller is None:
        return to_login()
    bid = caller.business_id
    async with context(request).unit_of_work(bid) as s:
        payments = await s.payments.list(bid, limit=50)
        clients = await s.clients.list(bid, limit=500, starting_after=None)
        log = await s.payments.gateway_requests(bid, limit=50)
        balances = await s.ledger.business_summary(bid)
    data: dict[str, Any] = {
        "caller": caller, "csrf": csrf_token(request),
        "payments": payments, "client_names": {c.id: c.name for c in clients},
        "gateway_requests": log, "balances": balances, "notice": notice, "error": error,
    }  # fmt: skip
    return templates.TemplateResponse(request, "dashboard/index.html", data)


def _day(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(f"'{field}' is a date like 2026-11-01.",
                               code="invalid_period") from None  # fmt: skip


@router.get("/dashboard/revenue", response_class=HTMLResponse)
async def revenue_page(request: Request, group_by: str = "agent", start: str | None = None,
                       end: str | None = None) -> Response:  # fmt: skip
    """Revenue per agent, room or business over a period (``end`` is inclusive here)."""
    caller = await signed_in(request, FINANCE_ROLES,
                             "Revenue is for owners, admins and finance users.")  # fmt: skip
    if caller is None:
        return to_login()
    error, lines = None, []
    try:
        until = _day(end, "end")
        async with context(request).unit_of_work(caller.business_id) as s:
            lines = await s.revenue.report(
                caller.business_id, group_by=group_by, start=_day(start, "start"),
                end=until + timedelta(days=1) if until else None)  # fmt: skip
    except FareroomError as exc:
        error = exc.message
    data = {"caller": caller, "lines": lines, "group_by": group_by, "start": start or "",
            "end": end or "", "error": error,
            "csrf": csrf_token(request)}  # fmt: skip
    return templates.TemplateResponse(request, "dashboard/revenue.html", data,
                                      status_code=422 if error else 200)  # fmt: skip


@router.post("/dashboard/payments/{payment_id}/refund")
async def refund(request: Request, payment_id: str, csrf: str = Form(""),
                 amount: str = Form(""), reason: str = Form("")) -> Response:  # fmt: skip
    caller = await checked_caller(request, csrf, roles=FINANCE_ROLES)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            payment = (await s.payments.get(caller.business_id, payment_id)).payment
            minor = parse_major(amount, payment.currency) if amount.strip() else None
            done = await s.payments.refund(
                caller.business, payment_id, amount=minor, reason=reason.strip()
            )
    except FareroomError as exc:
        return back("/dashboard", error=exc.message)
    return back("/dashboard", notice=f"Refunded {money(done.amount, done.currency)}.")


@router.post("/dashboard/connect")
async def connect(request: Request, csrf: str = Form("")) -> Response:
    caller = await checked_caller(request, csrf, roles=FINANCE_ROLES)
    async with context(request).unit_of_work(caller.business_id) as s:
        biz = await s.accounts.business_for_update(caller.business_id)
        url = await s.payments.start_onboarding(
            biz,
            email=caller.user.email if caller.user else "",
            return_url=f"{context(request).settings.base_url}/dashboard",
        )
    return RedirectResponse(url, status_code=303)
