from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
)

from fareroom.kit.fields import Currency, Whole, ident, integral, text, whole
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR
from fareroom.metering.service import API_KINDS
from fareroom.pricing.tariff import MAX_INCREMENT_SECONDS, MAX_MINUTES

if TYPE_CHECKING:
    from fareroom.metering.service import LiveState

Strict = ConfigDict(extra="forbid")


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


class Warning_(BaseModel):
    code: str
    message: str


AWAY = (
    "What the client's page says when no agent is available (blank: a default); the "
    "page then offers to leave an email"
)
AgentId = Annotated[str, ident()]
# The service checks origins (``invalid_embed_origin`` with a sentence); the document says
# the same rule: scheme and host, ``*.`` in front of the host only, a port, a final "/".
ORIGIN = (r"^[Hh][Tt][Tt][Pp][Ss]?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
          r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?/?$")  # fmt: skip
Origin = Annotated[
    str,
    Field(min_length=1, max_length=300),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 262,
            "pattern": ORIGIN,
            "description": "A site's origin, e.g. https://shop.example or https://*.example.com",
        }
    ),
]


class RoomCreate(BaseModel):
    model_config = Strict
    name: str = text(200)
    terms: str = text(20_000)
    tariff: TariffIn
    agent_may_start: StrictBool = False
    agent_may_pause: StrictBool = False
    agents_own_tariff: StrictBool = False
    distribution: Literal["round_robin", "longest_idle"] = "round_robin"
    agent_ids: list[AgentId] = Field(default_factory=list, max_length=500)
    embed_origins: list[Origin] = Field(
        default_factory=list, max_length=20,
        description="Sites whose pages may show the chat page in a frame, e.g. "
        "https://shop.example or https://*.example.com; none: no site may frame it")  # fmt: skip
    away_message: str | None = Field(default=None, max_length=2000, description=AWAY)


class RoomUpdate(BaseModel):
    model_config = Strict
    name: str | None = text(200, None)
    terms: str | None = text(20_000, None)
    tariff: TariffIn | None = None
    agent_may_start: StrictBool | None = None
    agent_may_pause: StrictBool | None = None
    agents_own_tariff: StrictBool | None = None
    distribution: Literal["round_robin", "longest_idle"] | None = None
    agent_ids: list[AgentId] | None = Field(default=None, max_length=500)
    embed_origins: list[Origin] | None = Field(default=None, max_length=20)
    away_message: str | None = Field(default=None, max_length=2000, description=AWAY)


class RoomOut(BaseModel):
    id: str
    name: str
    terms: str
    tariff: TariffOut
    agent_may_start: bool
    agent_may_pause: bool
    agents_own_tariff: bool
    distribution: str
    agent_ids: list[str]
    embed_origins: list[str]
    away_message: str | None
    warnings: list[Warning_]
    created_at: datetime


class AgentTariffIn(BaseModel):
    model_config = Strict
    tariff: TariffIn | None


class LineItem(BaseModel):
    model_config = Strict
    description: str = text(200)
    quantity: Whole = Field(ge=1, le=MAX_CHARGE_MINOR)
    unit_price: Whole = Field(ge=1, le=MAX_CHARGE_MINOR)


class LineItemFrame(BaseModel):
    """A line of the console's frame, in shape only: the service checks its rules (a
    description, quantity and price each at least 1, at most 50 lines) and says which line
    breaks one, as it does for the API's."""

    model_config = Strict
    description: str = Field(max_length=1000)
    quantity: Whole
    unit_price: Whole


class PaymentRequestMessage(BaseModel):
    """The agent console's ``payment_request`` frame (docs/realtime.md)."""

    model_config = Strict
    type: Literal["payment_request"]
    ref: str | int | None = None
    session: str = Field(min_length=1, max_length=40)
    category: Literal["service", "goods"]
    items: list[LineItemFrame] = Field(max_length=200)
    total: Whole | None = None


class PaymentRequestCreate(BaseModel):
    model_config = Strict
    room_id: str = ident()
    agent_id: str = ident()
    client_id: str = ident()
    session_id: str | None = ident(None)
    category: Literal["service", "goods"]
    items: list[LineItem] = Field(min_length=1, max_length=50)
    total: Annotated[Whole, whole(MIN_CHARGE_MINOR, MAX_CHARGE_MINOR)] | None = Field(
        None, description="The sum of the line items, if given"
    )


class PayRequest(BaseModel):
    model_config = Strict
    card_id: str | None = ident(None)


class PaymentRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    room_id: str
    agent_id: str
    client_id: str
    session_id: str | None
    category: str
    items: list[dict[str, Any]]
    total: int
    currency: str
    status: str
    payment_id: str | None
    service_started_at: datetime | None
    service_finished_at: datetime | None
    created_at: datetime
    paid_at: datetime | None


class SessionOpen(BaseModel):
    model_config = Strict
    room_id: str = ident()
    agent_id: str = ident()
    client_id: str = ident()
    card_id: str | None = ident(None)
    accepted_terms: StrictBool


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
