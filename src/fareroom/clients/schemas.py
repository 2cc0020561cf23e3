from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from fareroom.kit.fields import ID, Email, text

Strict = ConfigDict(extra="forbid")


class ClientCreate(BaseModel):
    model_config = Strict
    name: str = text(200)
    email: Email


class CardCreate(BaseModel):
    model_config = Strict
    token: str = Field(
        min_length=1,
        max_length=255,
        pattern=ID,
        description="A sandbox token (POST /sandbox/tokens) or a Stripe "
        "PaymentMethod id from Stripe.js",
    )
    recurring_authorised: StrictBool = False


class CardUpdate(BaseModel):
    model_config = Strict
    default: StrictBool | None = None
    recurring_authorised: StrictBool | None = None


class CardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    recurring_authorised: bool
    default: bool = False
    created_at: datetime


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    email: str
    default_card_id: str | None
    pay_with: str = Field("card", description="'card', or 'wallet_first' (then the card)")
    autopay_days: int | None = None
    cards: list[CardOut] | None = None
    created_at: datetime
