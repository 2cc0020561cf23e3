from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

if TYPE_CHECKING:
    from fareroom.metering.service import LiveState

Strict = ConfigDict(extra="forbid")


class TariffIn(BaseModel):
    """Amounts in minor units; minutes and seconds whole numbers. Checked by the service
    (``invalid_tariff`` names the field), so the error says what is wrong and why."""

    model_config = Strict
    currency: str | None = None
    free_minutes: Any = 0
    block_minutes: Any
    block_price: Any
    increment_seconds: Any = 30
    split_threshold: Any = None
    preauth_amount: Any

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


class RoomCreate(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)
    terms: str = Field(min_length=1, max_length=20_000)
    tariff: TariffIn
    agent_may_start: StrictBool = False
    agent_may_pause: StrictBool = False
    agents_own_tariff: StrictBool = False
    distribution: Literal["round_robin", "longest_idle"] = "round_robin"
    agent_ids: list[str] = Field(default_factory=list, max_length=500)


class RoomUpdate(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=200)
    terms: str | None = Field(default=None, max_length=20_000)
    tariff: TariffIn | None = None
    agent_may_start: StrictBool | None = None
    agent_may_pause: StrictBool | None = None
    agents_own_tariff: StrictBool | None = None
    distribution: Literal["round_robin", "longest_idle"] | None = None
    agent_ids: list[str] | None = Field(default=None, max_length=500)


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
    warnings: list[Warning_]
    created_at: datetime


class AgentTariffIn(BaseModel):
    model_config = Strict
    tariff: TariffIn | None


class LineItem(BaseModel):
    model_config = Strict
    description: str = Field(min_length=1, max_length=200)
    quantity: StrictInt = Field(ge=1)
    unit_price: StrictInt = Field(ge=1)


class PaymentRequestCreate(BaseModel):
    model_config = Strict
    room_id: str = Field(max_length=40)
    agent_id: str = Field(max_length=40)
    client_id: str = Field(max_length=40)
    session_id: str | None = Field(default=None, max_length=40)
    category: Literal["service", "goods"]
    items: list[LineItem] = Field(min_length=1, max_length=50)
    total: StrictInt | None = None


class PayRequest(BaseModel):
    model_config = Strict
    card_id: str | None = Field(default=None, max_length=40)


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
    room_id: str = Field(max_length=40)
    agent_id: str = Field(max_length=40)
    client_id: str = Field(max_length=40)
    card_id: str | None = Field(default=None, max_length=40)
    accepted_terms: StrictBool


class EventIn(BaseModel):
    model_config = Strict
    kind: str = Field(max_length=10, description="start | pause | resume | offline | online "
                      "| hangup")  # fmt: skip
    party: Literal["client", "agent"] | None = None
    at: AwareDatetime | None = Field(default=None, description="When it happened (default: "
                                     "now); only an offline may be dated before the last "
                                     "event")  # fmt: skip


class CardChange(BaseModel):
    model_config = Strict
    card_id: str = Field(max_length=40)


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
