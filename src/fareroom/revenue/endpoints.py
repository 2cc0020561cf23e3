from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator

from fareroom.http import api_key, read
from fareroom.revenue.service import RevenueLine

router = APIRouter(prefix="/api/v1", tags=["revenue"])


class RevenueLineOut(BaseModel):
    key: str | None
    label: str
    currency: str
    gross: int
    platform_fees: int
    processing_fees: int
    refunds: int
    abandoned_debt: int
    net: int


class RevenueOut(BaseModel):
    group_by: str
    start: datetime | None
    end: datetime | None
    data: list[RevenueLineOut]


def _iso_only(value: Any) -> Any:
    """A time is ISO 8601, as documented; pydantic alone would also take 0.0 as 1970."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("write the time as ISO 8601, e.g. 2026-11-21T10:00:00Z")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


def render_line(line: RevenueLine) -> RevenueLineOut:
    return RevenueLineOut(key=line.key, label=line.label, currency=line.currency, **line.figures)


@router.get("/revenue", response_model=RevenueOut)
async def revenue(
    request: Request,
    group_by: Literal["business", "agent", "room"] = "business",
    start: Time | None = Query(None, description="From (inclusive)"),
    end: Time | None = Query(None, description="Until (exclusive)"),
    key: str = Depends(api_key),
) -> RevenueOut:
    """Revenue from the ledger, per business, agent or chat room, over a period."""
    lines = await read(request, key, lambda s, caller: s.revenue.report(
        caller.business_id, group_by=group_by, start=start, end=end))  # fmt: skip
    return RevenueOut(group_by=group_by, start=start, end=end,
                      data=[render_line(line) for line in lines])  # fmt: skip
