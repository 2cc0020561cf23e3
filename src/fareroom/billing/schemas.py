from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from fareroom.billing.service import REFERENCE
from fareroom.kit.fields import Currency, Strict, Whole, ident, text
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR


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


class CriteriaIn(BaseModel):
    model_config = Strict
    due_on_or_before: date | None = None
    due_within_days: int | None = Field(None, ge=0, le=366, description="Due in the next N days")
    min_amount: Whole | None = Field(None, json_schema_extra={"minimum": 0})
    max_amount: Whole | None = Field(None, json_schema_extra={"minimum": 0})
    currency: Currency | None = None
    tag: str | None = Field(None, min_length=1, max_length=40)
    recurring_only: bool = Field(False, description="Only clients whose card is authorised "
                                                    "for recurring payments")  # fmt: skip


class RunCreate(CriteriaIn):
    definition_id: str | None = Field(None, description="Run this definition's criteria "
                                                         "(then give no other)")  # fmt: skip


class DefinitionCreate(BaseModel):
    model_config = Strict
    name: str = text(100)
    criteria: CriteriaIn = CriteriaIn()
    daily_at: str | None = Field(
        None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Runs by itself every day at HH:MM (UTC)",
    )


class DefinitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    criteria: dict[str, object]
    daily_at: str | None
    last_run_on: date | None
    created_at: datetime


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    definition_id: str | None
    criteria: dict[str, object]
    status: str
    bills: int
    amount: int
    currency: str | None
    created_at: datetime
    finished_at: datetime | None
    done: int = 0
    counts: dict[str, int] = {}
    amounts: dict[str, int] = {}
    failures: dict[str, int] = Field({}, description="Failed bills by decline code or reason")


class BillingSettingsIn(BaseModel):
    model_config = Strict
    retry_days: list[Annotated[int, Field(ge=1, le=60)]] = Field(
        max_length=10, description="The days after each decline the bill is tried again; "
        "declined on the last, it is written off")  # fmt: skip
    autopay_days: int | None = Field(
        None,
        ge=0,
        le=60,
        description="Bills are paid this many days before they are due (none: not automatically)",
    )
    reminders: bool = True


class BillingSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    retry_days: list[int]
    autopay_days: int | None
    reminders: bool


class CancellationTypeCreate(BaseModel):
    model_config = Strict
    name: str = text(100)
    refund_percent: int = Field(
        ge=0,
        le=100,
        description="What a cancellation of this type "
        "refunds of the payment: 100 in full, 0 nothing",
    )


class CancellationTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    refund_percent: int
    created_at: datetime


class PaymentCancel(BaseModel):
    model_config = Strict
    cancellation_type_id: str = ident()
    reason: str = text(300, "", blank=True)


class PaymentCancellationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    payment_id: str
    type_id: str
    type_name: str
    refund_percent: int
    refund_id: str | None
    refunded: int
    reason: str
    created_at: datetime
    payment_status: str = ""


class MovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    amount: int
    payment_id: str | None
    bill_id: str | None
    note: str
    created_at: datetime


class WalletOut(BaseModel):
    currency: str
    balance: int
    threshold: int | None = None
    target: int | None = None
    failures: int = 0
    next_topup_on: date | None = None
    last_failure: str | None = None
    movements: list[MovementOut] = []


class AutoTopUp(BaseModel):
    model_config = Strict
    threshold: Whole | None = Field(
        None,
        json_schema_extra={
            "minimum": 0,
            "maximum": MAX_CHARGE_MINOR * 10,
            "description": "Minor units",
        },
    )
    target: Whole | None = Field(
        None,
        json_schema_extra={
            "minimum": 0,
            "maximum": MAX_CHARGE_MINOR * 10,
            "description": "At least the smallest charge above the threshold",
        },
    )


class TopUp(BaseModel):
    model_config = Strict
    amount: Whole = Field(
        json_schema_extra={
            "minimum": MIN_CHARGE_MINOR,
            "maximum": MAX_CHARGE_MINOR,
            "description": "Minor units: a charge of the card, 0.50 at least",
        }
    )


class Credit(BaseModel):
    model_config = Strict
    amount: Whole = Field(
        json_schema_extra={"minimum": 1, "maximum": MAX_CHARGE_MINOR, "description": "Minor units"}
    )
    note: str = text(200, "", blank=True)


class PreferenceIn(BaseModel):
    model_config = Strict
    pay_with: Literal["card", "wallet_first"] = "card"
    card_id: str | None = Field(None, description="The card to charge (the default card)")
    autopay_days: int | None = Field(
        None,
        ge=0,
        le=60,
        description="Pay this client's bills "
        "this many days before they are due (none: the business's)",
    )


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    kind: str
    text: str
    amount: int | None
    ref: str | None
    detail: dict[str, str | int | None]


class AccountOut(BaseModel):
    client_id: str
    name: str
    email: str
    currency: str
    receivable: int = Field(description="What the client owes: open bills and chat debt")
    open_bills: list[BillOut]
    wallet: WalletOut
    pay_with: str
    default_card_id: str | None
    cards: list[dict[str, object]]
    recurring_card_ids: list[str]
    timeline: list[EventOut]
