"""What a gateway event may claim, and how its claims are checked against our own records.

A webhook never moves money on its word alone: the parts of its object we read are typed
(``EventObject``: a non-integer amount is a malformed event), its amounts must fit what we
asked the gateway for (0 ≤ captured ≤ held, a fee within what was captured, the payment's
currency), and before money moves the object is read back from the gateway, whose word is
recorded rather than the payload's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from fareroom.kit.errors import FareroomError
from fareroom.models.payment import Payment


class EventObject(BaseModel):
    """The fields of an event's object that Fareroom reads (anything else is ignored)."""

    model_config = ConfigDict(extra="ignore")
    id: StrictStr = Field(min_length=1, max_length=200)
    status: StrictStr | None = Field(default=None, max_length=40)
    amount: StrictInt | None = None
    amount_captured: StrictInt | None = None
    amount_received: StrictInt | None = None
    fee: StrictInt | None = None
    currency: StrictStr | None = Field(default=None, min_length=3, max_length=3)

    @classmethod
    def read(cls, data: dict[str, Any]) -> EventObject:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "object"
            raise FareroomError(
                f"The event's object is malformed: '{where}' does not have the expected type.",
                code="malformed_event",
            ) from None

    @property
    def captured(self) -> int | None:
        return self.amount_captured if self.amount_captured is not None else self.amount_received


@dataclass(frozen=True)
class EventOutcome:
    """What applying an event did; not ``accepted`` when its claims were refused (then
    nothing was changed)."""

    text: str
    accepted: bool = True


def rejected(reason: str) -> EventOutcome:
    return EventOutcome(f"rejected: {reason}", accepted=False)


def capture_problem(payment: Payment, *, captured: int | None, fee: int | None,
                    currency: str | None) -> str | None:  # fmt: skip
    """Why a claimed capture of ``payment`` cannot be true (None if it may be)."""
    if currency is not None and currency.upper() != payment.currency:
        return "the currency is not the payment's"
    if captured is not None and not 0 <= captured <= payment.amount:
        return "the captured amount is outside the hold"
    if fee is not None and not 0 <= fee <= (captured or payment.amount):
        return "the fee is outside what was captured"
    return None


def same_amount(obj: EventObject, *, amount: int, currency: str) -> bool:
    """The object's amount and currency, where it names them, are ours."""
    return (obj.amount is None or obj.amount == amount) and (
        obj.currency is None or obj.currency.upper() == currency
    )
