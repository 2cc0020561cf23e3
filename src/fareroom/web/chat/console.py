"""The agent console (availability, the chats routed to the agent, the meter, payment
requests; it speaks docs/realtime.md over /ws/agent) and the agent's own revenue.

Owners and admins who take chats use it too. The revenue the console shows at once after a
chat is paid comes from ``/console/revenue.json``: the same ledger report as the business's
revenue page, for the signed-in agent only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from fareroom.accounts.service import Caller
from fareroom.chat.service import AGENT_ROLES
from fareroom.http import context
from fareroom.revenue.service import RevenueLine
from fareroom.web.pages import csrf_token, signed_in, to_login
from fareroom.web.render import templates

router = APIRouter(include_in_schema=False)
REFUSAL = "The console is for agents."


async def _mine(request: Request, caller: Caller, start: datetime | None) -> list[RevenueLine]:
    """The caller's revenue since ``start``, one line per currency."""
    async with context(request).unit_of_work(caller.business_id) as s:
        lines = await s.revenue.report(caller.business_id, group_by="agent", start=start)
    return [line for line in lines if caller.user and line.key == caller.user.id]


def _periods(now: datetime) -> list[tuple[str, datetime | None]]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [("Today", today), ("Last 7 days", today - timedelta(days=6)),
            ("Last 30 days", today - timedelta(days=29)), ("All time", None)]  # fmt: skip


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request) -> Response:
    caller = await signed_in(request, AGENT_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    return templates.TemplateResponse(request, "chat/console.html",
                                      {"caller": caller, "csrf": csrf_token(request)})  # fmt: skip


@router.get("/console/revenue", response_class=HTMLResponse)
async def revenue_page(request: Request) -> Response:
    caller = await signed_in(request, AGENT_ROLES, REFUSAL)
    if caller is None:
        return to_login()
    periods = [(name, await _mine(request, caller, start))
               for name, start in _periods(context(request).clock.now())]  # fmt: skip
    return templates.TemplateResponse(request, "chat/agent_revenue.html", {
        "caller": caller, "csrf": csrf_token(request), "periods": periods})  # fmt: skip


@router.get("/console/revenue.json")
async def revenue_today(request: Request) -> Response:
    """What the agent earned today (net, per currency): the console refreshes it whenever
    one of its chats or payment requests is paid."""
    caller = await signed_in(request, AGENT_ROLES, REFUSAL)
    if caller is None:
        return JSONResponse({"code": "not_signed_in", "message": "Sign in again."}, 401)
    start = _periods(context(request).clock.now())[0][1]
    lines = await _mine(request, caller, start)
    today: list[dict[str, Any]] = [{"currency": line.currency, **line.figures} for line in lines]
    return JSONResponse({"today": today})
