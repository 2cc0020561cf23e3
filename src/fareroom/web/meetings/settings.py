"""The business's meeting groups and settings, for owners and admins: groups of users and
contacts a room may invite together (a room reads its groups when it sends invitations),
the company name and dial-in numbers its start pages show; and every host's own "encrypt my
meetings" (on their personal room's page).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.accounts.service import HOSTING_ROLES, Caller
from fareroom.bootstrap import Services
from fareroom.http import PathId, context
from fareroom.kit.errors import FareroomError
from fareroom.meetings.service import HOST_ROLES, GroupView
from fareroom.web.pages import NOTICES, back, checked_caller, csrf_token, signed_in, to_login
from fareroom.web.render import templates

router = APIRouter(include_in_schema=False)
MANAGERS = frozenset(HOST_ROLES)
REFUSAL = "Meeting groups and settings are kept by owners and admins."
BLANK_ROWS = 2  # empty dial-in rows under the numbers, to add some


async def _people(s: Services, caller: Caller) -> dict[str, Any]:
    bid = caller.business_id
    return {"users": await s.accounts.users(bid),
            "contacts": await s.clients.list(bid, limit=500, starting_after=None)}  # fmt: skip


async def _groups_page(request: Request, caller: Caller, s: Services, *,
                       form: dict[str, Any] | None = None, problem: FareroomError | None = None,
                       notice: str | None = None) -> Response:  # fmt: skip
    data = {"caller": caller, "csrf": csrf_token(request),
            "groups": await s.meetings.groups(caller.business_id), **await _people(s, caller),
            "form": form or {"name": "", "group_id": "", "members": []}, "notice": notice,
            "error": problem.message if problem else None,
            "error_code": problem.code if problem else None}  # fmt: skip
    return templates.TemplateResponse(request, "meetings/groups.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


def _members(members: list[str]) -> list[tuple[str, str]]:
    """``user:usr_1`` / ``contact:cli_2`` from the form's checkboxes."""
    found = []
    for item in members:
        kind, _, ref = item.partition(":")
        found.append((kind if kind in ("user", "contact") else "user", ref[:40]))
    return found


def form_of(view: GroupView) -> dict[str, Any]:
    return {"name": view.group.name, "group_id": view.group.id,
            "members": [f"{k}:{r}" for k, r in view.members]}  # fmt: skip


@router.get("/dashboard/meetings/groups", response_class=HTMLResponse)
async def groups_page(request: Request, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        return await _groups_page(request, caller, s, notice=NOTICES.get(notice or ""))


@router.get("/dashboard/meetings/groups/{group_id}", response_class=HTMLResponse)
async def group_page(request: Request, group_id: PathId) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        view = await s.meetings.group(caller.business_id, group_id)
        return await _groups_page(request, caller, s, form=form_of(view))


async def _group_form(request: Request) -> tuple[str, dict[str, Any]]:
    data = await request.form()
    return str(data.get("csrf", "")), {
        "name": str(data.get("name", "")), "group_id": "",
        "members": [str(m) for m in data.getlist("members")]}  # fmt: skip


@router.post("/dashboard/meetings/groups")
async def create_group(request: Request) -> Response:
    csrf, form = await _group_form(request)
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            await s.meetings.create_group(caller.business, name=form["name"],
                                          members=_members(form["members"]))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _groups_page(request, caller, s, form=form, problem=exc)
    return back("/dashboard/meetings/groups", notice="group_created")


@router.post("/dashboard/meetings/groups/{group_id}")
async def update_group(request: Request, group_id: PathId) -> Response:
    csrf, form = await _group_form(request)
    form["group_id"] = group_id
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            await s.meetings.update_group(caller.business, group_id, name=form["name"],
                                          members=_members(form["members"]))  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            await s.meetings.group(caller.business_id, group_id)  # another business's: 404
            return await _groups_page(request, caller, s, form=form, problem=exc)
    return back("/dashboard/meetings/groups", notice="group_saved")


@router.post("/dashboard/meetings/groups/{group_id}/delete")
async def delete_group(request: Request, group_id: PathId, csrf: str = Form("")) -> Response:
    caller = await checked_caller(request, csrf, roles=MANAGERS, refusal=REFUSAL)
    async with context(request).unit_of_work(caller.business_id) as s:
        await s.meetings.delete_group(caller.business_id, group_id)
    return back("/dashboard/meetings/groups", notice="group_deleted")


# ------------------------------------------------------------------ settings


async def _settings_page(request: Request, caller: Caller, s: Services, *,
                         form: dict[str, Any] | None = None,
                         problem: FareroomError | None = None,
                         notice: str | None = None) -> Response:  # fmt: skip
    if form is None:
        dial_ins = await s.meetings.dial_ins(caller.business_id)
        form = {"company_name": caller.business.company_name or "",
                "rows": [(d.country, d.number, d.pin_format) for d in dial_ins]}  # fmt: skip
    rows = list(form["rows"]) + [("", "", "")] * BLANK_ROWS
    data = {"caller": caller, "csrf": csrf_token(request), "form": form, "rows": rows,
            "notice": notice, "error": problem.message if problem else None,
            "error_code": problem.code if problem else None}  # fmt: skip
    return templates.TemplateResponse(request, "meetings/settings.html", data,
                                      status_code=problem.status if problem else 200)  # fmt: skip


@router.get("/dashboard/meetings/settings", response_class=HTMLResponse)
async def settings_page(request: Request, notice: str | None = None) -> Response:
    caller = await signed_in(request, MANAGERS, REFUSAL)
    if caller is None:
        return to_login()
    async with context(request).unit_of_work(caller.business_id) as s:
        return await _settings_page(request, caller, s, notice=NOTICES.get(notice or ""))


@router.post("/dashboard/meetings/settings")
async def save_settings(request: Request) -> Response:
    data = await request.form()
    caller = await checked_caller(request, str(data.get("csrf", "")), roles=MANAGERS,
                                  refusal=REFUSAL)  # fmt: skip
    countries, numbers, pins = (data.getlist(k) for k in ("country", "number", "pin_format"))
    removed = {str(n) for n in data.getlist("remove")}
    rows = [(str(c).strip(), str(n).strip(), str(p).strip())
            for i, (c, n, p) in enumerate(zip(countries, numbers, pins, strict=False))
            if str(i) not in removed and (str(c).strip() or str(n).strip())]  # fmt: skip
    company = str(data.get("company_name", ""))
    form: dict[str, Any] = {"company_name": company, "rows": rows}
    if data.get("action") == "add":  # another empty row, nothing saved yet
        form["rows"] = rows + [("", "", "")]
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _settings_page(request, caller, s, form=form)
    try:
        async with context(request).unit_of_work(caller.business_id) as s:
            business = await s.accounts.business_for_update(caller.business_id)
            await s.meetings.set_meeting_settings(business, company_name=company,
                                                  dial_ins=rows)  # fmt: skip
    except FareroomError as exc:
        async with context(request).unit_of_work(caller.business_id) as s:
            return await _settings_page(request, caller, s, form=form, problem=exc)
    return back("/dashboard/meetings/settings", notice="meeting_settings_saved")


@router.post("/meetings/preferences")
async def set_e2ee(request: Request, csrf: str = Form(""), encrypt: str = Form(""),
                   back_to: str = Form("")) -> Response:  # fmt: skip
    """The signed-in host's own "encrypt my meetings"."""
    refusal = "Meeting rooms are for the business's users."
    caller = await checked_caller(request, csrf, roles=HOSTING_ROLES, refusal=refusal)
    assert caller.user is not None
    async with context(request).unit_of_work(caller.business_id) as s:
        await s.meetings.set_e2ee(caller.business_id, caller.user.id, encrypt == "on")
    page = "/dashboard/meetings" if back_to == "list" else "/meetings/personal"
    return back(page, notice="e2ee_on" if encrypt == "on" else "e2ee_off")
