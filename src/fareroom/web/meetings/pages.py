"""The meeting pages: a room's start page, which becomes its meeting page (``/m/<code>``,
``static/meeting.js``), joining (``POST /m/<code>/join``, JSON: a ticket for the meeting's
socket), and a host's personal room ("Join meeting room" on their home page).

The start page gives every browser a device cookie (``fareroom_device``): a guest's
identity in the meeting, and what a removal bans with it (docs/meetings.md).
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from fareroom.accounts.service import HOSTING_ROLES, Caller
from fareroom.http import context, peer_address
from fareroom.kit.errors import Unauthenticated
from fareroom.meetings.realtime import DEVICE_COOKIE
from fareroom.meetings.schemas import JoinIn, JoinOut
from fareroom.meetings.service import TICKET_SECONDS, Joiner, display_code, normal_code
from fareroom.web.pages import NOTICES, csrf_token, page_caller, signed_in, to_login
from fareroom.web.render import templates
from fareroom.web.security import check_same_origin

router = APIRouter(include_in_schema=False)
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
DEVICE_SECONDS = 365 * 86400


def _device(request: Request) -> tuple[str, bool]:
    """The browser's device id, and whether it is new (to be set)."""
    found = request.cookies.get(DEVICE_COOKIE, "")
    if _DEVICE.match(found):
        return found, False
    return secrets.token_urlsafe(24), True


def _set_device(response: Response, request: Request, device: str) -> None:
    secure = context(request).settings.base_url.startswith("https://")
    response.set_cookie(DEVICE_COOKIE, device, max_age=DEVICE_SECONDS, httponly=True,
                        samesite="lax", secure=secure, path="/")  # fmt: skip


async def _maybe_caller(request: Request) -> Caller | None:
    try:
        return await page_caller(request)
    except Unauthenticated:
        return None


def _shown_code(text: str) -> str:
    """A meeting code from the link (``?code=``), as people read it; anything else as it
    came (the form shows it, the server checks it)."""
    code = normal_code(text[:40])
    return display_code(code) if len(code) == 10 and code.isalnum() else text[:40]


@router.get("/m/{code}", response_class=HTMLResponse)
async def start_page(code: str, request: Request) -> Response:
    caller = await _maybe_caller(request)
    async with context(request).unit_of_work() as s:
        page = await s.meetings.start_page(code[:40])
        host = await s.meetings.is_host(page.room, caller.user if caller else None)
    device, new = _device(request)
    response = templates.TemplateResponse(request, "meetings/start.html", {
        "caller": caller, "csrf": csrf_token(request) if caller else "", "page": page,
        "room": page.room, "code": display_code(page.room.code), "host": host,
        "given_code": _shown_code(request.query_params.get("code", "")),
        "signed_in_name": (caller.user.name or caller.user.email) if caller and caller.user
        else None})  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    if new:
        _set_device(response, request, device)
    return response


@router.post("/m/{code}/join", response_model=JoinOut)
async def join(code: str, body: JoinIn, request: Request) -> JSONResponse:
    """A ticket for the meeting's socket (docs/meetings.md, "Joining")."""
    ctx = context(request)
    check_same_origin(request.headers, ctx.settings)
    caller = await _maybe_caller(request)
    device, new = _device(request)
    joiner = Joiner(device=device, user=caller.user if caller else None, invite=body.invite,
                    name=body.name, address=peer_address(request))  # fmt: skip
    async with ctx.unit_of_work() as s:
        ticket = await s.meetings.join(code[:40], joiner, password=body.password,
                                       meeting_code=body.code)  # fmt: skip
    response = JSONResponse(JoinOut(ticket=ticket, expires_in=TICKET_SECONDS).model_dump(),
                            headers={"Cache-Control": "no-store"})  # fmt: skip
    if new:
        _set_device(response, request, device)
    return response


def invitation_links(subject: str, text: str, to: str = "") -> dict[str, str]:
    """Compose links for the default mail client, Gmail and Yahoo."""
    s, b, t = quote(subject), quote(text), quote(to)
    return {"mailto": f"mailto:{t}?subject={s}&body={b}",
            "gmail": f"https://mail.google.com/mail/?view=cm&fs=1&to={t}&su={s}&body={b}",
            "yahoo": f"https://compose.mail.yahoo.com/?to={t}&subject={s}&body={b}"}  # fmt: skip


@router.get("/meetings/personal", response_class=HTMLResponse)
async def personal_room(request: Request, notice: str | None = None) -> Response:
    """The host's own room: its link, its invitation, and compose links to send it."""
    caller = await signed_in(request, HOSTING_ROLES, "Meeting rooms are for the business's users.")
    if caller is None or caller.user is None:
        return to_login()
    ctx = context(request)
    async with ctx.unit_of_work(caller.business_id) as s:
        view = await s.meetings.personal_room(caller.business, caller.user.id)
        page = await s.meetings.start_page(view.room.code, caller.business)
        link = f"{ctx.settings.base_url.rstrip('/')}/m/{view.room.code}"
        invitation = s.meetings.invitation(view.room, page, link=link)
    context_: dict[str, Any] = {
        "caller": caller, "csrf": csrf_token(request), "room": view.room, "page": page,
        "link": link, "code": display_code(view.room.code), "invitation": invitation,
        "compose": invitation_links(invitation.subject, invitation.text),
        "e2ee": page.encrypted, "e2ee_back": "personal",
        "notice": NOTICES.get(notice or "")}  # fmt: skip
    return templates.TemplateResponse(request, "meetings/personal.html", context_)
