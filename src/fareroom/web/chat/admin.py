"""Chat room administration for owners and admins: the rooms, a form to create or change
one (name, terms, tariff, meter controls, agents, distribution, whether agents may use their
own tariff, the away message), and the embed snippet for the business's website. A room's
page warns when no agent could take a chat now, and lists the messages clients left then.

Amounts are typed in major units ("10.00") and stored in minor units. Saving a room whose
tariff did not change keeps its tariff; a changed tariff is a new one, and sessions already
open keep the tariff their client accepted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.chat import relay
from fareroom.chat.live import AWAY_MESSAGE
from fareroom.chat.service import AGENT_ROLES, RoomView
from fareroom.http import context
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.money import Money, parse_major
from fareroom.pricing.tariff import Tariff
from fareroom.web.pages import back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import templates

router = APIRouter(include_in_schema=False)
MANAGERS = frozenset({"owner", "admin"})
REFUSAL = "Chat rooms are set up by owners and admins."
MONEY_FIELDS = ("block_price", "preauth_amount", "split_threshold")
WHOLE_FIELDS = ("free_minutes", "block_minutes", "increment_seconds")
FLAGS = ("agent_may_start", "agent_may_pause", "agents_own_tariff")
BLANK = {"name": "", "terms": "", "free_minutes": "0", "block_minutes": "5", "block_price": "",
         "increment_seconds": "30", "split_threshold": "", "preauth_amount": "",
         "distribution": "round_robin", "away_message": "", "agent_ids": []}  # fmt: skip


def _major(amount: int | None, currency: str) -> str:
    return "" if amount is None else Money(amount, currency).format().split(" ")[0]


def form_of(view: RoomView) -> dict[str, Any]:
    """A room as its form shows it."""
    t, r = view.tariff, view.room
    return {"name": r.name, "terms": r.terms, "free_minutes": str(t.free_minutes),
            "block_minutes": str(t.block_minutes), "increment_seconds": str(t.increment_seconds),
            **{f: _major(getattr(t, f), t.currency).replace(",", "") for f in MONEY_FIELDS},
            **{f: getattr(r, f) for f in FLAGS}, "distribution": r.distribution,
            "away_message": r.away_message or "", "agent_ids": view.agent_ids}  # fmt: skip


def tariff_of(form: dict[str, Any], currency: str) -> dict[str, Any]:
    """The tariff fields the service checks, from the form's text."""
    fields: dict[str, Any] = {"currency": currency}
    for name in WHOLE_FIELDS:
        text = str(form[name]).strip()
        fields[name] = int(text) if text.isdigit() else text  # the service names the field
    for name in MONEY_FIELDS:
        text = str(form[name]).strip()
        if not text:
            if name != "split_threshold":
                raise ValidationFailed(f"Fill in {name.replace('_', ' ')}.",
                                       code="invalid_tariff", field=name)  # fmt: skip
            fields[name] = None
            continue
        try:
            fields[name] = parse_major(text, currency)
        except ValidationFailed as exc:
            raise ValidationFailed(f"{name.replace('_', ' ').capitalize()}: {exc.message}",
                                   code="invalid_tariff", field=name) from None  # fmt: skip
    return fields


async def _read_form(request: Request) -> tuple[str, dict[str, Any]]:
    data = await request.form()
    form: dict[str, Any] = {k: str(data.get(k, "")) for k in BLANK if k != "agent_ids"}
    form.update({f: data.get(f) == "on" for f in FLAGS})
    form["agent_ids"] = [str(a) for a in data.getlist("agent_ids")]
    return str(data.get("csrf", "")), form


async def _page(request: Request, caller: Caller, s: Services, *, view: RoomView | None,
                form: dict[str, Any], error: str | None = None, notice: str | None = None,
                status: int = 200) -> Response:  # fmt: skip
    agents = [u for u in await s.accounts.users(caller.business_id) if u.role in AGENT_ROLES]
    ctx = context(request)
    base = ctx.settings.base_url
    data = {"caller": caller, "csrf": csrf_token(request),
            "view": view, "form": form, "agents": agents, "error": error, "notice": notice,
            "currency": caller.business.default_currency,
            "link": f"{base}/chat/{view.room.id}" if view else None,
            "available": view is not None
            and await s.live.available(view.room.id, relay.connected(ctx)),
            "leads": await s.live.leads(caller.business_id, view.room.id) if view else [],
            "away_default": AWAY_MESSAGE}  # fmt: skip
    return templates.TemplateResponse(request, "chat/room.html", data, status_code=status)


@router.get("/dashboard/rooms", response_class=HTMLResponse)
async def rooms_page(request: Request, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        views = await s.chat.rooms(caller.business_id)
        names = {u.id: u.name or u.email for u in await s.accounts.users(caller.business_id)}
    return templates.TemplateResponse(request, "chat/rooms.html", {
        "caller": caller, "views": views, "names": names, "notice": notice,
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
        async with context(request).unit_of_work(caller.business_id) as s:
            view = await s.chat.create_room(
                caller.business, name=form["name"], terms=form["terms"],
                tariff=tariff_of(form, caller.business.default_currency),
                distribution=form["distribution"], agent_ids=form["agent_ids"],
                away_message=form["away_message"], **{f: form[f] for f in FLAGS})  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _page(request, caller, s, view=None, form=form, error=exc.message,
                               status=422)  # fmt: skip
    return back(f"/dashboard/rooms/{view.room.id}", notice=f"Room {view.room.name!r} created.")


@router.get("/dashboard/rooms/{room_id}", response_class=HTMLResponse)
async def room_page(request: Request, room_id: str, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.chat.view(caller.business_id, room_id)
        return await _page(request, caller, s, view=view, form=form_of(view), notice=notice)


def _same_tariff(tariff: Tariff, fields: dict[str, Any]) -> bool:
    return all(getattr(tariff, k) == v for k, v in fields.items())


@router.post("/dashboard/rooms/{room_id}")
async def update_room(request: Request, room_id: str) -> Response:
    csrf, form = await _read_form(request)
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    biz = caller.business
    try:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.chat.view(biz.id, room_id)
            tariff = tariff_of(form, biz.default_currency)
            view = await s.chat.update_room(
                biz, room_id, tariff=None if _same_tariff(current.tariff, tariff) else tariff,
                agent_ids=form["agent_ids"], name=form["name"], terms=form["terms"],
                distribution=form["distribution"], away_message=form["away_message"],
                **{f: form[f] for f in FLAGS})  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(biz.id) as s:
            current = await s.chat.view(biz.id, room_id)
            return await _page(request, caller, s, view=current, form=form, error=exc.message,
                               status=422)  # fmt: skip
    return back(f"/dashboard/rooms/{room_id}", notice=f"Room {view.room.name!r} saved.")
