"""A paid meeting's public pages (docs/paid-meetings.md): the registration page
``/r/<code>`` (details, occurrences and seats, name, email, card, terms; then the
confirmation with the codes), the embed script for the business's website, the registrant's
calendar file and the cancel page their mail links to. The pages speak the public API
``/api/v1/register/<code>/…``; the registrant's token is in their mail's links and in the
page's session storage, never in a cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.http import PathId, context
from fareroom.models.registration import Pricing
from fareroom.registrations.endpoints import PageCode
from fareroom.registrations.service import PaidView, RegistrationsService
from fareroom.web.embed import embed_script
from fareroom.web.render import money, templates
from fareroom.web.security import content_security_policy

router = APIRouter(include_in_schema=False)
_ID = Query(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")
_TOKEN = Query(min_length=10, max_length=120, pattern=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$")
PRICING = {Pricing.SINGLE: "for the meeting", Pricing.PER_OCCURRENCE: "for each meeting you pick",
           Pricing.PER_SERIES: "for the whole series"}  # fmt: skip


def _page(request: Request, template: str, view: PaidView, company: str, host: str,
          **extra: object) -> Response:  # fmt: skip
    ctx = context(request)
    p = view.paid
    return templates.TemplateResponse(request, template, {
        "view": view, "paid": p, "room": view.room, "company": company, "host_name": host,
        "price": money(p.price, p.currency), "pricing": PRICING[p.pricing],
        "policy": RegistrationsService.policy_text(p), "gateway": ctx.settings.gateway,
        "stripe_key": ctx.settings.stripe_publishable_key, **extra},
        headers={"Content-Security-Policy": content_security_policy(ctx.settings),
                 "Cache-Control": "no-store"})  # fmt: skip


async def _view(request: Request, code: str) -> tuple[PaidView, str, str]:
    async with context(request).unit_of_work() as s:
        view = await s.registrations.page(code[:16])
        start = await s.meetings.start_page(view.room.code)
    return view, start.company, start.host_name


@router.get("/r/{code}", response_class=HTMLResponse)
async def register_page(code: PageCode, request: Request) -> Response:
    view, company, host = await _view(request, code)
    return _page(request, "registrations/register.html", view, company, host)


@router.get("/r/{code}/cancel", response_class=HTMLResponse)
async def cancel_page(code: PageCode, request: Request, registration: str = _ID,
                      token: str = _TOKEN) -> Response:  # fmt: skip
    """What the mail's "Cancel" link opens: the registration, what the policy gives back
    now, and the button (the page then calls the public API with the token)."""
    view, company, host = await _view(request, code)
    async with context(request).unit_of_work() as s:
        mine, back = await s.registrations.cancel_quote(registration, token)
    return _page(request, "registrations/cancel.html", view, company, host, mine=mine,
                 back=None if back is None else money(back, mine.registration.currency),
                 token=token)  # fmt: skip


@router.get("/r/{code}/registrations/{registration_id}/calendar.ics")
async def calendar(code: PageCode, registration_id: PathId, request: Request,
                   token: str = _TOKEN) -> Response:  # fmt: skip
    async with context(request).unit_of_work() as s:
        body = await s.registrations.registrant_calendar(registration_id, token)
    return Response(body, media_type="text/calendar", headers={
        "Content-Disposition": 'attachment; filename="meeting.ics"',
        "Cache-Control": "no-store"})  # fmt: skip


@router.get("/r/{code}/embed.js")
async def embed(code: PageCode, request: Request) -> Response:
    """``<script src=".../r/<code>/embed.js" async></script>`` puts a "Register" button
    where the tag stands."""
    view, _, _ = await _view(request, code)
    url = f"{context(request).settings.base_url}/r/{view.paid.code}"
    return embed_script(url, f"Register: {view.room.topic}", window="fareroom-register",
                        inline=True)  # fmt: skip
