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


async def _mine(request: Request, caller: Caller, periods: list[tuple[str, datetime | None]]
                ) -> list[tuple[str, list[RevenueLine]]]:  # fmt: skip
    """The caller's revenue in each named period (since its start), a line per currency."""
    mine = caller.user.id if caller.user else None
    async with context(request).unit_of_work(caller.business_id) as s:
        return [(name, [line for line in await s.revenue.report(
                    caller.business_id, group_by="agent", start=start) if line.key == mine])
                for name, start in periods]  # fmt: skip


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
    periods = await _mine(request, caller, _periods(context(request).clock.now()))
    return templates.TemplateResponse(request, "chat/agent_revenue.html", {
        "caller": caller, "csrf": csrf_token(request), "periods": periods})  # fmt: skip


@router.get("/console/revenue.json")
async def revenue_today(request: Request) -> Response:
    """What the agent earned today (net, per currency): the console refreshes it whenever
    one of its chats or payment requests is paid."""
    caller = await signed_in(request, AGENT_ROLES, REFUSAL)
    if caller is None:
        return JSONResponse({"code": "not_signed_in", "message": "Sign in again."}, 401)
    [(_, lines)] = await _mine(request, caller, _periods(context(request).clock.now())[:1])
    today: list[dict[str, Any]] = [{"currency": line.currency, **line.figures} for line in lines]
    return JSONResponse({"today": today})
