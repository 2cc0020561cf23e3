from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from fareroom.billing.service import REFERENCE
from fareroom.kit.fields import Currency, Strict, Whole, ident, text
from fareroom.kit.money import MAX_CHARGE_MINOR


class LineCreate(BaseModel):
    model_config = Strict
    description: str = text(200)
    quantity: Whole = Field(1, json_schema_extra={"minimum": 1, "maximum": 100_000})
    unit_amount: Whole = Field(
        json_schema_extra={"minimum": 0, "maximum": MAX_CHARGE_MINOR,
                           "description": "Minor units (cents)"})  # fmt: skip
    currency: Currency | None = Field(None, description="If given, the bill's own")


class BillCreate(BaseModel):
    model_config = Strict
    client_id: str = ident()
    currency: Currency | None = Field(None, description="The business's currency if omitted")
    issued_on: date | None = Field(None, description="Today if omitted")
    due_on: date
    reference: str | None = Field(
        None, min_length=1, max_length=64, pattern=f"^{REFERENCE}$",
        description="The business's own number; the id if omitted")  # fmt: skip
    tag: str = text(40, "", blank=True)
    description: str = text(500, "", blank=True)
    lines: list[LineCreate] = Field(min_length=1, max_length=100)


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    position: int
    description: str
    quantity: int
    unit_amount: int
    amount: int


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: int
    run_id: str | None
    amount: int
    status: str
    payment_id: str | None
    decline_code: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class BillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    client_id: str
    reference: str
    currency: str
    amount: int
    amount_paid: int
    amount_due: int = 0
    status: str
    dunning: str
    tag: str
    description: str
    issued_on: date
    due_on: date
    declines: int
    next_try_on: date | None
    last_decline_code: str | None
    created_at: datetime
    lines: list[LineOut] = []
    attempts: list[AttemptOut] = []


class ImportOut(BaseModel):
    created: int
    bills: list[BillOut]
