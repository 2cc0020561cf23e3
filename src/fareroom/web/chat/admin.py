"""Chat room administration for owners and admins: the rooms, a form to create or change
one (name, terms, tariff, meter controls, agents, distribution, whether agents may use their
own tariff, the away message), and the embed snippet for the business's website. A room's
page warns when no agent could take a chat now, and lists the messages clients left then.

Amounts are typed in major units ("10.00") and stored in minor units. Saving a room whose
tariff did not change keeps its tariff; a changed tariff is a new one, and sessions already
open keep the tariff their client accepted.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.chat.live import AWAY_MESSAGE
from fareroom.chat.service import AGENT_ROLES, RoomView, embed_origins
from fareroom.http import PathId, context
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.fields import ID, PLAIN
from fareroom.kit.money import format_major, parse_major, parse_whole
from fareroom.pricing.tariff import Tariff
from fareroom.web.pages import NOTICES, back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import money, templates

router = APIRouter(include_in_schema=False)
MANAGERS = frozenset({"owner", "admin"})
REFUSAL = "Chat rooms are set up by owners and admins."
MONEY_FIELDS = ("block_price", "preauth_amount", "split_threshold")
WHOLE_FIELDS = {"free_minutes": "minutes", "block_minutes": "minutes",
                "increment_seconds": "seconds"}  # fmt: skip
# The tariff's fields as the form names them: the page's errors use these, never the API's
# field names.
LABELS = {"block_price": "Minimum charge", "block_minutes": "Minutes the minimum charge covers",
          "free_minutes": "Free minutes", "increment_seconds": "Increment (seconds)",
          "preauth_amount": "Hold on the card",
          "split_threshold": "Collect whenever due reaches"}  # fmt: skip
FLAGS = ("agent_may_start", "agent_may_pause", "agents_own_tariff")
BLANK = {"name": "", "terms": "", "free_minutes": "0", "block_minutes": "5", "block_price": "",
         "increment_seconds": "30", "split_threshold": "", "preauth_amount": "",
         "distribution": "round_robin", "embed_origins": "", "away_message": "",
         "agent_ids": []}  # fmt: skip


def _major(amount: int | None, currency: str) -> str:
    return "" if amount is None else format_major(amount, currency)


def form_of(view: RoomView) -> dict[str, Any]:
    """A room as its form shows it."""
    t, r = view.tariff, view.room
    return {"name": r.name, "terms": r.terms, "free_minutes": str(t.free_minutes),
            "block_minutes": str(t.block_minutes), "increment_seconds": str(t.increment_seconds),
            **{f: _major(getattr(t, f), t.currency) for f in MONEY_FIELDS},
            **{f: getattr(r, f) for f in FLAGS}, "distribution": r.distribution,
            "embed_origins": "\n".join(embed_origins(r)), "away_message": r.away_message or "",
            "agent_ids": view.agent_ids}  # fmt: skip


def tariff_of(form: dict[str, Any], currency: str) -> dict[str, Any]:
    """The tariff fields the service checks, from the form's text."""
    fields: dict[str, Any] = {"currency": currency}
    for name, unit in WHOLE_FIELDS.items():
        fields[name] = parse_whole(str(form[name]), label=LABELS[name], unit=unit)
    for name in MONEY_FIELDS:
        text = str(form[name]).strip()
        if not text and name == "split_threshold":
            fields[name] = None
            continue
        try:
            fields[name] = parse_major(text, currency)
        except ValidationFailed as exc:
            raise ValidationFailed(f"{LABELS[name]}: {exc.message}", code=exc.code,
                                   field=name) from None  # fmt: skip
    return fields


def said(exc: FareroomError, currency: str) -> str:
    """An error as the room form says it: a field by its label, amounts in major units."""
    field = exc.details.get("field")
    if field not in LABELS or exc.message.startswith(LABELS[field]):
        return exc.message
    low, high = exc.details.get("minimum"), exc.details.get("maximum")
    if field in MONEY_FIELDS and low is not None and high is not None:
        low, high = money(low, currency), money(high, currency)
        return f"{LABELS[field]} must be between {low} and {high}."
    if f"'{field}'" in exc.message:
        return exc.message.replace(f"'{field}'", LABELS[field])
    return f"{LABELS[field]}: {exc.message}"


# The form's other fields by their labels, for what is wrong with them.
TEXT_LABELS = {
    "name": "Name",
    "terms": "Terms",
    "away_message": "Away message",
    "embed_origins": "Sites that may show the chat",
    "distribution": "Distribution",
}


def checked(form: dict[str, Any]) -> dict[str, Any]:
    """The form's text as the API takes it: no control characters but tabs and line breaks
    (PostgreSQL stores no NUL), agents named by their ids."""
    for name, value in form.items():
        if isinstance(value, str) and re.fullmatch(PLAIN, value) is None:
            label = LABELS.get(name) or TEXT_LABELS.get(name, name)
            raise ValidationFailed(f"{label} may not contain control characters.",
                                   code="invalid_text", field=name)  # fmt: skip
    if any(re.fullmatch(ID, a) is None or len(a) > 40 for a in form["agent_ids"]):
        raise ValidationFailed("Choose the agents from the list.", code="agent_not_found")
    return form


async def _read_form(request: Request) -> tuple[str, dict[str, Any]]:
    data = await request.form()
    form: dict[str, Any] = {k: str(data.get(k, "")) for k in BLANK if k != "agent_ids"}
    form.update({f: data.get(f) == "on" for f in FLAGS})
    form["agent_ids"] = [str(a) for a in data.getlist("agent_ids")]
    return str(data.get("csrf", "")), form


async def _page(request: Request, caller: Caller, s: Services, *, view: RoomView | None,
                form: dict[str, Any], problem: FareroomError | None = None,
                notice: str | None = None) -> Response:  # fmt: skip
    agents = [u for u in await s.accounts.users(caller.business_id) if u.role in AGENT_ROLES]
    ctx = context(request)
    base = ctx.settings.base_url
    currency = caller.business.default_currency
    data = {"caller": caller, "csrf": csrf_token(request), "view": view, "form": form,
            "agents": agents, "notice": notice, "currency": currency, "labels": LABELS,
            "error": said(problem, currency) if problem else None,
            "error_code": problem.code if problem else None,
            "link": f"{base}/chat/{view.room.id}" if view else None,
            "available": view is not None
            and await s.live.available(view.room.id, ctx.relay.connected()),
            "leads": await s.live.leads(caller.business_id, view.room.id) if view else [],
            "away_default": AWAY_MESSAGE}  # fmt: skip
    return templates.TemplateResponse(request, "chat/room.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


@router.get("/dashboard/rooms", response_class=HTMLResponse)
async def rooms_page(request: Request, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        views = await s.chat.rooms(caller.business_id)
        names = {u.id: u.name or u.email for u in await s.accounts.users(caller.business_id)}
    return templates.TemplateResponse(request, "chat/rooms.html", {
        "caller": caller, "views": views, "names": names, "notice": NOTICES.get(notice or ""),
        "csrf": csrf_token(request)})  # fmt: skip


@router.get("/dashboard/rooms/new", response_class=HTMLResponse)
async def new_room_page(request: Request) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        return await _page(request, caller, s, view=None, form=dict(BLANK))


@router.post("/dashboard/rooms/new")
async def create_room(request: Request) -> Response:
    csrf, form = await _read_form(request)
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    try:
        checked(form)
        async with context(request).unit_of_work(caller.business_id) as s:
            view = await s.chat.create_room(
                caller.business, name=form["name"], terms=form["terms"],
                tariff=tariff_of(form, caller.business.default_currency),
                distribution=form["distribution"], agent_ids=form["agent_ids"],
                embed_origins=form["embed_origins"].split(), away_message=form["away_message"],
                **{f: form[f] for f in FLAGS})  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _page(request, caller, s, view=None, form=form, problem=exc)
    return back(f"/dashboard/rooms/{view.room.id}", notice="room_created")


@router.get("/dashboard/rooms/{room_id}", response_class=HTMLResponse)
async def room_page(request: Request, room_id: PathId, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.chat.view(caller.business_id, room_id)
        return await _page(request, caller, s, view=view, form=form_of(view),
                           notice=NOTICES.get(notice or ""))  # fmt: skip


def _same_tariff(tariff: Tariff, fields: dict[str, Any]) -> bool:
    return all(getattr(tariff, k) == v for k, v in fields.items())


@router.post("/dashboard/rooms/{room_id}")
async def update_room(request: Request, room_id: PathId) -> Response:
    csrf, form = await _read_form(request)
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    biz = caller.business
    try:
        checked(form)
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.chat.view(biz.id, room_id)
            tariff = tariff_of(form, biz.default_currency)
            await s.chat.update_room(
                biz, room_id, tariff=None if _same_tariff(current.tariff, tariff) else tariff,
                agent_ids=form["agent_ids"], name=form["name"], terms=form["terms"],
                distribution=form["distribution"], embed_origins=form["embed_origins"].split(),
                away_message=form["away_message"],
                **{f: form[f] for f in FLAGS})  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.chat.view(biz.id, room_id)
            return await _page(request, caller, s, view=current, form=form, problem=exc)
    return back(f"/dashboard/rooms/{room_id}", notice="room_saved")
