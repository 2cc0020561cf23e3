"""The host's side of paid meetings in the dashboard (docs/paid-meetings.md): a scheduled
room's paid settings (price typed in the business's currency, seats, when registration
closes, the refund policy, a no-show hold), its registration link and embed snippet, its
meetings with their seats and a "Cancel this meeting" button, the registrations with
filters and one-click refunds, marking no-shows; and the user's notifications.

Who may: owners and admins every room's, a host (agent) their own rooms' (the rooms'
rule, ``MeetingsService.check_may_change``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.accounts.service import HOSTING_ROLES, Caller
from fareroom.bootstrap import Services
from fareroom.http import PathId, context
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.money import Money, parse_major, parse_whole
from fareroom.meetings.service import check_text
from fareroom.models.business import User
from fareroom.models.registration import Pricing, RefundRule, RegistrationStatus
from fareroom.registrations.service import PaidSettings, PaidView, RegistrationsService
from fareroom.web.pages import back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import templates

router = APIRouter(include_in_schema=False)
REFUSAL = "Paid meetings are for owners, admins and hosts."
NOTICES = {"paid_saved": "Saved: the registration page shows it now.",
           "refunded": "Refunded.", "occurrence_cancelled":
           "The meeting is cancelled: its registrants are refunded and told.",
           "no_shows_marked": "Done: the no-shows' fees are captured, the others' holds "
           "released."}  # fmt: skip
STATUSES = [s.value for s in RegistrationStatus]


def _user(caller: Caller) -> User:
    assert caller.user is not None
    return caller.user


def _defaults(currency: str) -> dict[str, Any]:
    return {"price": "", "currency": currency, "pricing": "", "seats": "7", "closes_hours": "0",
            "refund_rule": "always", "refund_window_hours": "24", "refund_percent": "100",
            "no_show_hold": False, "notify_email": True, "open": True}  # fmt: skip


def _form_of(view: Any) -> dict[str, Any]:
    p = view.paid
    return {"price": Money(p.price, p.currency).format().split(" ")[0], "currency": p.currency,
            "pricing": p.pricing.value, "seats": str(p.seats),
            "closes_hours": f"{p.closes_minutes / 60:g}", "refund_rule": p.refund_rule.value,
            "refund_window_hours": f"{p.refund_window_minutes / 60:g}",
            "refund_percent": str(p.refund_percent), "no_show_hold": p.no_show_hold,
            "notify_email": p.notify_email, "open": p.open}  # fmt: skip


def _hours(text: str, label: str) -> int:
    """Hours a person typed (a whole number, or with a half: ``1.5``) → minutes."""
    whole, _, half = (text or "").strip().partition(".")
    minutes = parse_whole(whole or "0", label=label, unit="hours") * 60
    if half not in ("", "0", "5"):
        raise ValidationFailed(f"{label}: Write whole hours, or a half (1.5).",
                               code="invalid_number")  # fmt: skip
    return minutes + (30 if half == "5" else 0)


def _settings(form: dict[str, Any], currency: str, pricing_default: str) -> PaidSettings:
    try:
        pricing = Pricing(form["pricing"] or pricing_default)
        rule = RefundRule(form["refund_rule"])
    except ValueError:
        raise ValidationFailed("Choose one of the listed options.", code="invalid_choice") from None
    return PaidSettings(
        price=parse_major(form["price"], currency), currency=currency, pricing=pricing,
        seats=parse_whole(form["seats"], label="Seats", unit="seats"),
        closes_minutes=_hours(form["closes_hours"], "Registration closes"),
        refund_rule=rule,
        refund_window_minutes=_hours(form["refund_window_hours"], "Refund window")
        if rule == RefundRule.WINDOW else 0,
        refund_percent=parse_whole(form["refund_percent"], label="Refund", unit="percent")
        if rule == RefundRule.WINDOW else 100,
        no_show_hold=form["no_show_hold"], notify_email=form["notify_email"],
        open=form["open"])  # fmt: skip


async def _read(request: Request) -> tuple[str, dict[str, Any]]:
    raw = await request.form()
    text = {k: str(raw.get(k, ""))[:200] for k in ("price", "pricing", "seats", "closes_hours",
                                                     "refund_rule", "refund_window_hours",
                                                     "refund_percent")}  # fmt: skip
    flags = {k: raw.get(k) == "on" for k in ("no_show_hold", "notify_email", "open")}
    return str(raw.get("csrf", "")), {**text, **flags}


async def _page(request: Request, caller: Caller, s: Services, room_id: str, *,
                form: dict[str, Any] | None = None, problem: FareroomError | None = None,
                notice: str | None = None, status: str | None = None,
                occurrence: str | None = None) -> Response:  # fmt: skip
    bid = caller.business_id
    room_view = await s.meetings.view_for(bid, _user(caller), room_id)
    paid = await s.registrations.for_room(bid, room_id)
    regs = await s.registrations.registrations(
        bid, limit=200, starting_after=None, paid_id=paid.paid.id, status=status,
        occurrence_id=occurrence) if paid else []  # fmt: skip
    base = context(request).settings.base_url.rstrip("/")
    currency = caller.business.default_currency
    data = {
        "caller": caller, "csrf": csrf_token(request), "room": room_view.room, "paid": paid,
        "form": form or (_form_of(paid) if paid else _defaults(currency)),
        "currency": currency, "regs": regs, "statuses": STATUSES, "status": status or "",
        "occurrence": occurrence or "", "connect": caller.business.connect_status.value,
        "base": base, "policy": RegistrationsService.policy_text(paid.paid) if paid else "",
        "notice": notice, "error": problem.message if problem else None, "error_in_form": True,
        "error_code": problem.code if problem else None,
        "when": await s.registrations.starts(paid.paid.id) if paid else {},
        "due": await s.registrations.no_shows_due(paid) if paid else [],
    }  # fmt: skip
    return templates.TemplateResponse(request, "registrations/admin.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


async def _paid_of(s: Services, business_id: str, room_id: str) -> PaidView:
    paid = await s.registrations.for_room(business_id, room_id)
    if paid is None:
        raise ValidationFailed("This room is not a paid meeting.", code="not_paid")
    return paid


@router.get("/dashboard/meetings/{room_id}/paid", response_class=HTMLResponse)
async def paid_page(request: Request, room_id: PathId, notice: str | None = None,
                    status: str | None = None, occurrence: str | None = None
                    ) -> Response:  # fmt: skip
    caller = await signed_in(request, HOSTING_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    status = status if status in STATUSES else None
    occurrence = occurrence if occurrence and occurrence.replace("_", "").isalnum() else None
    async with context(request).unit_of_work(caller.business_id) as s:
        return await _page(request, caller, s, room_id, notice=NOTICES.get(notice or ""),
                           status=status, occurrence=occurrence)  # fmt: skip


@router.post("/dashboard/meetings/{room_id}/paid")
async def save_paid(request: Request, room_id: PathId) -> Response:
    csrf, form = await _read(request)
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            room = (await s.meetings.view_for(biz.id, _user(caller), room_id)).room
            default = Pricing.SINGLE if room.rrule is None else Pricing.PER_OCCURRENCE
            await s.registrations.make_paid(biz, room_id, _settings(form, biz.default_currency,
                                                                    default.value),
                                            by=_user(caller))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            return await _page(request, caller, s, room_id, form=form, problem=exc)
    return back(f"/dashboard/meetings/{room_id}/paid", notice="paid_saved")


@router.post("/dashboard/registrations/{registration_id}/refund")
async def refund(request: Request, registration_id: PathId, csrf: str = Form(""),
                 amount: str = Form(""), reason: str = Form(""), room_id: str = Form(""),
                 refund_key: str = Form("")) -> Response:  # fmt: skip
    """One click (all that is left), or part of it with an amount; the form's key makes a
    second click of the same form refund nothing more."""
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    room_id = room_id if room_id.replace("_", "").isalnum() and len(room_id) <= 40 else ""
    try:
        async with context(request).unit_of_work(biz.id) as s:
            view = await s.registrations.registration(biz.id, registration_id)
            value = parse_major(amount, view.registration.currency) if amount.strip() else None
            key = (
                refund_key
                if refund_key.replace("_", "").isalnum() and len(refund_key) <= 40
                else None
            )
            await s.registrations.refund(biz, registration_id, amount=value,
                                         reason=check_text(reason, "The reason", 200,
                                                           blank=True), refund_id=key,
                                         by=_user(caller))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            return await _page(request, caller, s, room_id, problem=exc)
    return back(f"/dashboard/meetings/{room_id}/paid", notice="refunded")


@router.post("/dashboard/meetings/{room_id}/paid/occurrences/{occurrence_id}/cancel")
async def cancel_occurrence(request: Request, room_id: PathId, occurrence_id: PathId,
                            csrf: str = Form("")) -> Response:  # fmt: skip
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            paid = await _paid_of(s, biz.id, room_id)
            await s.registrations.cancel_occurrence(biz, paid.paid.id, occurrence_id,
                                                    by=_user(caller))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            return await _page(request, caller, s, room_id, problem=exc)
    await context(request).settle_cancellations()  # each registrant in its own transaction
    return back(f"/dashboard/meetings/{room_id}/paid", notice="occurrence_cancelled")


@router.post("/dashboard/meetings/{room_id}/paid/occurrences/{occurrence_id}/no-shows")
async def no_shows(request: Request, room_id: PathId, occurrence_id: PathId) -> Response:
    raw = await request.form()
    caller = await checked_caller(request, str(raw.get("csrf", "")), roles=HOSTING_ROLES,
                                  refusal=REFUSAL)  # fmt: skip
    biz = caller.business
    marked = [str(v)[:40] for v in raw.getlist("no_show")][:10_000]
    try:
        async with context(request).unit_of_work(biz.id) as s:
            paid = await _paid_of(s, biz.id, room_id)
        _, failed = await context(request).mark_no_shows(biz, paid.paid.id, occurrence_id,
                                                         marked, by=_user(caller))  # fmt: skip
        if failed:
            raise ValidationFailed(f"{failed} hold{'s' if failed > 1 else ''} could not be "
                                   "settled at the gateway now; mark again to retry them.",
                                   code="no_shows_unsettled", status=502)  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            return await _page(request, caller, s, room_id, problem=exc)
    return back(f"/dashboard/meetings/{room_id}/paid", notice="no_shows_marked")


@router.get("/dashboard/notifications", response_class=HTMLResponse)
async def notifications(request: Request) -> Response:
    caller = await signed_in(request, HOSTING_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        found, unread = await s.registrations.notifications(
            caller.business_id, _user(caller).id, limit=100, starting_after=None)  # fmt: skip
    return templates.TemplateResponse(request, "registrations/notifications.html", {
        "caller": caller, "csrf": csrf_token(request), "found": found,
        "unread": unread})  # fmt: skip


@router.post("/dashboard/notifications/read")
async def read_all(request: Request, csrf: str = Form("")) -> Response:
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=REFUSAL)
    async with context(request).unit_of_work(caller.business_id) as s:
        await s.registrations.mark_read(caller.business_id, _user(caller).id, None)
    return back("/dashboard/notifications")
