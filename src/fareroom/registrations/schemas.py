from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from fareroom.kit.fields import ID, Charge, Currency, Email, Refund, Strict, Whole, ident, text

Id = Annotated[str, Field(min_length=1, max_length=40, pattern=ID)]


class PaidIn(BaseModel):
    model_config = Strict
    price: Charge
    currency: Currency
    pricing: Literal["single", "per_occurrence", "per_series"]
    seats: Whole = Field(description="Registrants each meeting takes (1 to the meeting's size "
                                     "less its host)")  # fmt: skip
    closes_minutes: Whole = Field(0, description="Registration closes this many minutes "
                                                 "before each start")  # fmt: skip
    refund_rule: Literal["always", "never", "window"] = "always"
    refund_window_minutes: Whole = Field(0, description="window: cancelled at least this "
                                                        "long before the start")  # fmt: skip
    refund_percent: Whole = Field(100, description="window: the share refunded, 1 to 100")
    no_show_hold: StrictBool = Field(False, description="Hold the price on the card, capture "
                                                        "it only from no-shows")  # fmt: skip
    notify_email: StrictBool = False
    open: StrictBool = True


class OccurrenceOut(BaseModel):
    id: str
    starts_at: datetime
    seats_left: int
    open: bool
    why_closed: str | None
    cancelled: bool


class PaidOut(BaseModel):
    id: str
    room_id: str
    code: str
    url: str
    price: int
    currency: str
    pricing: str
    seats: int
    closes_minutes: int
    refund_rule: str
    refund_window_minutes: int
    refund_percent: int
    refund_policy: str
    no_show_hold: bool
    notify_email: bool
    open: bool
    topic: str
    duration_minutes: int | None
    time_zone: str | None
    rrule: str | None
    occurrences: list[OccurrenceOut]
    warning: str | None = Field(None, description="Seats past what one meeting holds")


class RegisterIn(BaseModel):
    model_config = Strict
    name: str = text(100)
    email: Email
    occurrences: list[Id] = Field(default_factory=list, max_length=50,
                                   description="Occurrence ids (per occurrence); none for a "
                                               "single meeting or a whole series")  # fmt: skip
    terms: Literal[True] = Field(description="The terms and refund policy accepted")
    card_token: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_]+$",
        description="The card's token (Stripe.js, or the sandbox's)",
    )
    request_key: str = Field(min_length=22, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                             description="A secret the page makes once per registration: "
                                         "sent again, the same registration answers")  # fmt: skip


class PayIn(BaseModel):
    model_config = Strict
    card_token: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_]+$")


class CancelIn(BaseModel):
    model_config = Strict
    occurrence_id: str | None = ident(None)


class CodeOut(BaseModel):
    code: str
    display: str
    occurrence_id: str | None
    revoked: bool


class ItemOut(BaseModel):
    occurrence_id: str
    amount: int
    cancelled: bool


class RegistrationOut(BaseModel):
    id: str
    paid_meeting_id: str
    name: str
    email: str
    status: str
    amount: int
    currency: str
    payment_id: str | None
    refunded: int = Field(0, description="Minor units refunded of its payment so far")
    failure: str | None
    expires_at: datetime
    items: list[ItemOut]
    codes: list[CodeOut]
    created_at: datetime
    token: str | None = Field(None, description="Only when just made: the registrant's "
                                                "token, to pay and cancel")  # fmt: skip


class RefundIn(BaseModel):
    model_config = Strict
    amount: Refund | None = Field(None, description="Minor units; none: all that is left")
    reason: str = text(200, "", blank=True)


class NoShowsIn(BaseModel):
    model_config = Strict
    no_shows: list[Id] = Field(max_length=10_000)


class NoShowsOut(BaseModel):
    registrations: list[RegistrationOut]
    failed: int = Field(description="Holds the gateway failed to settle (still held)")


class NotificationOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    ref_id: str | None
    read: bool
    created_at: datetime


class ReadIn(BaseModel):
    model_config = Strict
    ids: list[Id] | None = Field(None, max_length=100, description="None: all")
