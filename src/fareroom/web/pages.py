"""Sign-in and the first dashboard page: payments with fees, refunds, the gateway log.

Forms carry a CSRF token derived from the session token (HMAC with the secret key); the
cookie is HttpOnly and SameSite=Lax. The sign-in form, sent before there is a session,
carries one derived from a cookie of its own (``fareroom_login``, double submit). Every form
post is also refused when the browser says it comes from another site (``Origin``).

Messages shown after a redirect travel as codes (``?notice=refunded``) and come from
``NOTICES``/``ERRORS``; a code not in them shows nothing, so a link cannot put its own
words on our pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fareroom.accounts.service import COOKIE, FINANCE_ROLES, Caller, RoleForbidden
from fareroom.http import PathId, context, peer_address
from fareroom.kit.errors import (
    FareroomError,
    Forbidden,
    InvalidPeriod,
    Unauthenticated,
    ValidationFailed,
)
from fareroom.kit.fields import ID, MAYBE_ID, PLAIN
from fareroom.kit.ids import has_prefix, new_id
from fareroom.kit.money import format_major, parse_major
from fareroom.kit.ratelimit import RateLimited
from fareroom.models.payment import PaymentStatus
from fareroom.payments.service import PaymentView, RefundedShare
from fareroom.web.render import templates
from fareroom.web.security import check_same_origin

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "fareroom_login"
NOTICES = {
    "refunded": "The refund was made.",
    "room_created": "The room was created.",
    "room_saved": "The room was saved.",
    "meeting_room_created": "The meeting room was created.",
    "meeting_room_saved": "The meeting room was saved.",
    "meeting_room_deleted": "The meeting room was deleted.",
    "invitations_queued": "The invitations were queued.",
    "ban_lifted": "The ban was lifted: they may join this room again.",
    "group_created": "The group was created.",
    "group_saved": "The group was saved.",
    "group_deleted": "The group was deleted.",
    "meeting_settings_saved": "The meeting settings were saved.",
    "e2ee_on": "Your meetings are end-to-end encrypted from now on.",
    "e2ee_off": "Your meetings are no longer end-to-end encrypted.",
}
# None yet: a form that fails shows its page again with the error at once.
ERRORS: dict[str, str] = {}


def home_of(role: str) -> str:
    """Where a role's pages start: agents take chats, hosts hold meetings, everyone else
    runs the business."""
    if role == "host":
        return "/dashboard/meetings"
    return "/console" if role == "agent" else "/dashboard"


def _signed(request: Request, value: str) -> str:
    secret = context(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def csrf_token(request: Request) -> str:
    """The token a signed-in page's forms carry (derived from its session cookie)."""
    return _signed(request, request.cookies.get(COOKIE, ""))


class CsrfFailed(Forbidden):
    """A form's POST without the token of the page that showed the form."""

    code = "csrf_failed"


async def page_caller(request: Request) -> Caller:
    """The signed-in caller; their unread notifications are counted for the header
    (``request.state.unread``)."""
    ctx = context(request)
    async with ctx.unit_of_work() as services:
        caller = await services.accounts.session_caller(request.cookies.get(COOKIE))
        if caller.user is not None:
            request.state.unread = await services.registrations.unread(caller.business_id,
                                                                       caller.user.id)  # fmt: skip
        return caller


async def signed_in(request: Request, roles: frozenset[str] | tuple[str, ...],
                    refusal: str) -> Caller | None:  # fmt: skip
    """The page's caller, if their role is one of ``roles``; None when nobody is signed in
    (the page sends them to /login)."""
    try:
        caller = await page_caller(request)
    except Unauthenticated:
        return None
    if caller.role not in roles:
        raise RoleForbidden(refusal, home=home_of(caller.role))
    return caller


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


async def checked_caller(request: Request, csrf: str, *, roles: frozenset[str] | None = None,
                         refusal: str = "Your role may not do this.") -> Caller:  # fmt: skip
    """The caller of a form's POST: sent from our own pages, signed in, the form's CSRF
    token, and one of ``roles``."""
    check_same_origin(request.headers, context(request).settings)
    caller = await page_caller(request)
    if not hmac.compare_digest(csrf, csrf_token(request)):
        raise CsrfFailed("The form expired; reload the page and try again.")
    if roles is not None and caller.role not in roles:
        raise RoleForbidden(refusal)
    return caller


def back(path: str, **message: str) -> RedirectResponse:
    query = f"?{urlencode(message)}" if message else ""
    return RedirectResponse(path + query, status_code=303)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    try:
        caller = await page_caller(request)
    except Unauthenticated:
        return to_login()
    return RedirectResponse(home_of(caller.role), status_code=303)


def _secure(request: Request) -> bool:
    return context(request).settings.base_url.startswith("https")


def _login_form(request: Request, *, error: str | None = None, email: str = "",
                status: int = 200) -> Response:  # fmt: skip
    """The sign-in page, with the form's token bound to its pre-session cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "login.html", {
        "error": error, "email": email, "csrf": _signed(request, f"login:{nonce}")},
        status_code=status)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, nonce, path="/login", httponly=True, samesite="lax",
                        secure=_secure(request))  # fmt: skip
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login")
async def login(request: Request, email: str = Form(""), password: str = Form(""),
                csrf: str = Form("")) -> Response:  # fmt: skip
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    try:
        check_same_origin(request.headers, context(request).settings)
        if not nonce or not hmac.compare_digest(csrf, _signed(request, f"login:{nonce}")):
            raise CsrfFailed("The sign-in form expired; sign in again.")
        async with context(request).unit_of_work() as services:
            token = await services.accounts.login(email=email, password=password,
                                                  address=peer_address(request))  # fmt: skip
            role = (await services.accounts.session_caller(token)).role
    except (Unauthenticated, Forbidden, RateLimited) as exc:
        response = _login_form(request, error=exc.message, email=email, status=exc.status)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(home_of(role), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        max_age=14 * 24 * 3600)  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")) -> Response:
    await checked_caller(request, csrf)
    async with context(request).unit_of_work() as services:
        await services.accounts.logout(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


PAGE_SIZE = 25
PAYMENT_STATUSES = [s.value for s in PaymentStatus]


# A payment id in the dashboard's URL or form, as the API takes one (a NUL never reaches
# the database).
def _page_id() -> Any:
    return Query(None, max_length=40, pattern=ID)


@dataclass(frozen=True)
class RefundForm:
    """A refund form sent back with its error: the row it belongs to and what was typed."""

    payment_id: str
    amount: str
    reason: str


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, notice: str | None = None, error: str | None = None,
                    after: str | None = _page_id(), before: str | None = _page_id(),
                    status: str = "", client_id: str = "") -> Response:  # fmt: skip
    """Payments newest first, PAGE_SIZE at a time: ``after`` a payment id shows the older
    ones after it, ``before`` the newer ones before it; ``status`` and ``client_id`` filter
    them (anything else given is ignored)."""
    caller = await signed_in(request, FINANCE_ROLES,
                             "The dashboard is for owners, admins and finance users.")  # fmt: skip
    if caller is None:
        return to_login()
    filters = {
        "status": status if status in PAYMENT_STATUSES else "",
        "client_id": client_id if has_prefix(client_id, "cli") else "",
    }
    return await _dashboard(request, caller, after=after, before=before,
                            notice=NOTICES.get(notice or ""), error=ERRORS.get(error or ""),
                            filters=filters)  # fmt: skip


async def _dashboard(request: Request, caller: Caller, *, after: str | None = None,
                     before: str | None = None, notice: str | None = None,
                     error: str | None = None, problem: FareroomError | None = None,
                     typed: RefundForm | None = None, filters: dict[str, str] | None = None
                     ) -> Response:  # fmt: skip
    bid = caller.business_id
    filters = filters or {}
    async with context(request).unit_of_work(bid) as s:
        views = await s.payments.list(bid, limit=PAGE_SIZE + 1, starting_after=after,
                                      ending_before=before,
                                      **{k: v or None for k, v in filters.items()})  # fmt: skip
        clients = await s.clients.list(bid, limit=500, starting_after=None)
        log = await s.payments.gateway_requests(bid, limit=50)
        balances = await s.ledger.business_summary(bid)
    more = len(views) > PAGE_SIZE
    # A page before a payment comes newest first too: the extra one is its newest.
    payments = views[1:] if more and before else views[:PAGE_SIZE]
    data: dict[str, Any] = {
        "caller": caller, "csrf": csrf_token(request), "payments": payments,
        "newer": payments[0].payment.id if payments and (after or (before and more)) else None,
        "older": payments[-1].payment.id if payments and (before or more) else None,
        "page": {"after": after, "before": before}, "refund_ids": _refund_ids(payments),
        "filters": filters, "filter_query": urlencode({k: v for k, v in filters.items() if v}),
        "client_names": {c.id: c.name for c in clients}, "gateway_requests": log,
        "balances": balances, "notice": notice, "typed": typed,
        # A refund form's error is shown by that form only (not twice) when its row is shown.
        "error_in_form": typed is not None
        and any(v.payment.id == typed.payment_id for v in payments),
        "error": problem.message if problem else error,
        "error_code": problem.code if problem else None,
    }  # fmt: skip
    return templates.TemplateResponse(request, "dashboard/index.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


def _refund_ids(views: list[PaymentView]) -> dict[str, str]:
    """A refund id per refund form: sent twice, the form refunds once."""
    return {v.payment.id: new_id("re") for v in views if v.refund_status != RefundedShare.FULL}


def _day(text: str | None, field: str, *, next_day: bool = False) -> datetime | None:
    """The start of the day typed (or of the day after it), in UTC."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text) + timedelta(days=1 if next_day else 0)
    except (ValueError, OverflowError):
        raise InvalidPeriod(f"'{field}' is a date like 2026-11-01.") from None
    return datetime.combine(day, time(), tzinfo=UTC)


@router.get("/dashboard/revenue", response_class=HTMLResponse)
async def revenue_page(request: Request, group_by: str = "agent", start: str | None = None,
                       end: str | None = None) -> Response:  # fmt: skip
    """Revenue per agent, room or business over a period (``end`` is inclusive here)."""
    caller = await signed_in(request, FINANCE_ROLES,
                             "Revenue is for owners, admins and finance users.")  # fmt: skip
    if caller is None:
        return to_login()
    problem, lines = None, []
    try:
        period = {"start": _day(start, "start"), "end": _day(end, "end", next_day=True)}
        async with context(request).unit_of_work(caller.business_id) as s:
            lines = await s.revenue.report(caller.business_id, group_by=group_by, **period)
    except FareroomError as exc:
        problem = exc
    data = {"caller": caller, "lines": lines, "group_by": group_by, "start": start or "",
            "end": end or "", "error": problem.message if problem else None,
            "error_code": problem.code if problem else None,
            "csrf": csrf_token(request)}  # fmt: skip
    return templates.TemplateResponse(request, "dashboard/revenue.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


@router.get("/dashboard/payments/{payment_id}/refund", response_class=HTMLResponse)
async def refund_in_full_page(request: Request, payment_id: PathId) -> Response:
    """The step that confirms a refund of everything that is left, with the amount named."""
    caller = await signed_in(request, FINANCE_ROLES, "Refunds are for owners, admins and "
                             "finance users.")  # fmt: skip
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.payments.get(caller.business_id, payment_id)
    p = view.payment
    data = {"caller": caller, "csrf": csrf_token(request), "view": view, "refund_id": new_id("re"),
            "left": format_major(p.amount_captured - p.amount_refunded, p.currency)}  # fmt: skip
    return templates.TemplateResponse(request, "dashboard/refund.html", data)


@router.post("/dashboard/payments/{payment_id}/refund")
async def refund(request: Request, payment_id: PathId, csrf: str = Form(""),
                 amount: str = Form(""), reason: str = Form("", pattern=PLAIN),
                 refund_id: str = Form("", max_length=40, pattern=MAYBE_ID),
                 after: str = Form("", max_length=40, pattern=MAYBE_ID),
                 before: str = Form("", max_length=40, pattern=MAYBE_ID)) -> Response:  # fmt: skip
    """A refund of the amount typed, in major units; the form requires one (everything that
    is left goes through the confirming page, which names the amount)."""
    caller = await checked_caller(request, csrf, roles=FINANCE_ROLES)
    page = {k: v for k, v in (("after", after), ("before", before)) if v}
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            payment = (await s.payments.get(caller.business_id, payment_id)).payment
            if not amount.strip():
                raise ValidationFailed("Fill in the amount to refund, or choose \u201cRefund "
                                       "in full\u201d.", code="amount_required")  # fmt: skip
            await s.payments.refund(
                caller.business, payment_id, amount=parse_major(amount, payment.currency),
                reason=reason.strip(),
                refund_id=refund_id if has_prefix(refund_id, "re") else None)  # fmt: skip
    except FareroomError as exc:
        # Shown at once: a redirect would have to carry the sentence in its URL.
        return await _dashboard(request, caller, problem=exc, after=page.get("after"),
                                before=page.get("before"),
                                typed=RefundForm(payment_id, amount, reason))  # fmt: skip
    return back("/dashboard", notice="refunded", **page)


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
