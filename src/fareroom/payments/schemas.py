from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from fareroom.kit.fields import Charge, Currency, Email, Refund, ident, text

Strict = ConfigDict(extra="forbid")


class PaymentCreate(BaseModel):
    model_config = Strict
    client_id: str = ident()
    card_id: str | None = ident(None, description="Default card if omitted")
    amount: Charge
    currency: Currency
    category: Literal["service", "goods"] = "service"
    capture: StrictBool = Field(True, description="false places a hold to capture later")
    description: str = text(500, "", blank=True)


class CaptureRequest(BaseModel):
    model_config = Strict
    amount: Charge | None = Field(None, description="Up to the held amount; all if omitted")


class RefundCreate(BaseModel):
    model_config = Strict
    amount: Refund | None = Field(None, description="What is left to refund if omitted")
    reason: str = text(200, "", blank=True)


class PayoutCreate(BaseModel):
    model_config = Strict
    amount: Refund
    currency: Currency | None = None


class OnboardingRequest(BaseModel):
    model_config = Strict
    email: Email | None = None
    return_url: str | None = text(500, None)


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    status: str
    created_at: datetime


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    client_id: str
    card_id: str
    status: str
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    category: str
    description: str
    platform_fee: int
    processing_fee: int
    net: int = Field(0, description="What the business keeps: captured − fees it bears − refunded")
    refund_status: Literal["none", "partial", "full"] = Field(
        "none", description="How much of what was captured is refunded; `status` stays "
        "`succeeded` after refunds (it is the charge's own state)")  # fmt: skip
    refunds: list[RefundOut] = []
    created_at: datetime


class PayoutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    amount: int
    currency: str
    status: str = Field(description="in_transit until it arrives, then paid (or failed)")
    arrives_on: date | None = Field(None, description="When the bank should have it")
    automatic: bool = False
    created_at: datetime


class BalanceLine(BaseModel):
    currency: str
    available: int
    gross: int
    platform_fees: int
    processing_fees: int
    refunds: int
    payouts: int
    net: int


class BalanceOut(BaseModel):
    balances: list[BalanceLine]


class GatewayRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    gateway: str
    operation: str
    reference: str
    idempotency_key: str | None
    request_summary: str
    outcome: str
    gateway_object_id: str | None
    error_type: str | None
    error_code: str | None
    decline_code: str | None
    latency_ms: int
    created_at: datetime


class ConnectOut(BaseModel):
    account_id: str | None
    status: str
    onboarding_url: str | None = None
