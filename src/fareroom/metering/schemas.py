"""The meter's API shapes: tariffs, sessions, their events and collections."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from fareroom.kit.fields import Currency, Strict, ident, integral, whole
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR
from fareroom.metering.service import API_KINDS
from fareroom.pricing.tariff import MAX_INCREMENT_SECONDS, MAX_MINUTES

if TYPE_CHECKING:
    from fareroom.metering.service import LiveState

# The service checks a tariff's numbers (``invalid_tariff`` names the field and the reason).
_Number = Annotated[Any, BeforeValidator(integral)]
_AMOUNT = whole(MIN_CHARGE_MINOR, MAX_CHARGE_MINOR, "Minor units")


class TariffIn(BaseModel):
    """Amounts in minor units; minutes and seconds whole numbers. Checked by the service
    (``invalid_tariff`` names the field), so the error says what is wrong and why."""

    model_config = Strict
    currency: Currency | None = None
    free_minutes: Annotated[_Number, whole(0, MAX_MINUTES)] = 0
    block_minutes: Annotated[_Number, whole(1, MAX_MINUTES, "The minimum charge buys this")]
    block_price: Annotated[_Number, _AMOUNT]
    increment_seconds: Annotated[_Number, whole(1, MAX_INCREMENT_SECONDS)] = 30
    split_threshold: Annotated[
        _Number,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": MIN_CHARGE_MINOR, "maximum": MAX_CHARGE_MINOR},
                    {"type": "null"},
                ],
                "description": "Collect whenever this much is due; at least block_price",
            }
        ),
    ] = None
    preauth_amount: Annotated[_Number, _AMOUNT]

    def fields(self) -> dict[str, Any]:
        fields = self.model_dump()
        if self.currency is None:
            del fields["currency"]
        return fields


class TariffOut(BaseModel):
    currency: str
    free_minutes: int
    block_minutes: int
    block_price: int
    increment_seconds: int
    split_threshold: int | None
    preauth_amount: int


class EventIn(BaseModel):
    model_config = Strict
    kind: Annotated[
        str, Field(max_length=10), WithJsonSchema({"type": "string", "enum": list(API_KINDS)})
    ]
    party: Literal["client", "agent"] | None = None
    at: AwareDatetime | None = Field(default=None, description="When it happened (default: "
                                     "now); only an offline may be dated before the last "
                                     "event")  # fmt: skip


class CardChange(BaseModel):
    model_config = Strict
    card_id: str = ident()


class SessionOut(BaseModel):
    id: str
    room_id: str
    agent_id: str
    client_id: str
    card_id: str
    status: str
    meter: str = Field(description="waiting | running | paused | offline | ended")
    end_reason: str | None
    opened_at: datetime
    ended_at: datetime | None
    terms: str
    terms_accepted_at: datetime
    tariff: TariffOut
    currency: str
    seconds: int = Field(description="Chargeable seconds so far")
    price: int
    collected: int
    abandoned: int
    due: int
    next_change_in: int | None = Field(description="Chargeable seconds until the price rises")
    collection_pending: bool
    hold_payment_id: str | None
    offline: list[str] = Field(default_factory=list, description="Parties offline now")
    offline_for: int | None = Field(default=None, description="Seconds the first party "
                                    "offline now has been offline (the meter may not have "
                                    "started)")  # fmt: skip
    ends_in: int | None = Field(default=None, description="Seconds until the presence "
                                "timeout ends the session (unless the party is back)")  # fmt: skip
    failure: str | None = Field(default=None, description="Why the last collection failed")
    agent_may_start: bool = Field(description="The meter waits for the agent's start")
    agent_may_pause: bool = Field(description="The agent may pause and resume the meter")


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    party: str | None
    event_at: datetime
    created_at: datetime


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    reason: str
    amount: int
    capture_amount: int
    charge_amount: int
    status: str
    failure: str | None
    created_at: datetime
    finished_at: datetime | None


def session_out(state: LiveState) -> SessionOut:
    s = state.session
    return SessionOut(
        id=s.id, room_id=s.room_id, agent_id=s.agent_id, client_id=s.client_id,
        card_id=s.card_id, status=s.status, meter=s.meter_state, end_reason=s.end_reason,
        opened_at=s.opened_at, ended_at=s.ended_at, terms=s.terms,
        terms_accepted_at=s.terms_accepted_at, tariff=TariffOut(**state.tariff.__dict__),
        currency=state.tariff.currency, seconds=state.seconds, price=state.price,
        collected=s.collected, abandoned=s.abandoned, due=state.due,
        next_change_in=state.next_change_in, collection_pending=state.pending,
        hold_payment_id=s.hold_payment_id, offline=list(state.offline), failure=state.failure,
        offline_for=state.offline_for, ends_in=state.ends_in,
        agent_may_start=s.agent_may_start, agent_may_pause=s.agent_may_pause,
    )  # fmt: skip
