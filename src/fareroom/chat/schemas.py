from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from fareroom.kit.fields import PLAIN, Strict, Whole, ident, text, whole
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR
from fareroom.metering.schemas import TariffIn, TariffOut
from fareroom.realtime.pages import Frame
from fareroom.realtime.pages import Hello as BaseHello


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
    away_message: str | None = Field(default=None, max_length=2000, pattern=PLAIN, description=AWAY)


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
    away_message: str | None = Field(default=None, max_length=2000, pattern=PLAIN, description=AWAY)


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


# ---------------------------------------------------------------- the pages' frames
#
# Each frame a page sends over its socket (docs/realtime.md) is read into one of these
# before anything is done with it: its shape only. The services check the rules and say
# what breaks one (a message's text, an availability, a session that is not the page's).
# A frame of the wrong shape is refused with the code and sentence its ``problems`` give
# for the first field that is wrong, or with its ``code`` (``realtime.pages.Frame``).


class Hello(BaseHello):
    token: Any = None  # the client's resume token (checked by the service)


class ClientFrame(Frame):
    """hangup, leave: the session (if named) must be the visit's."""

    session: Any = None


class ClientMessage(ClientFrame):
    text: Any = None


_CALL = {"data": ("invalid_call", "A call frame's 'data' is an object (a signal, or ring, "
                  "answer, decline, end).")}  # fmt: skip


class ClientCall(ClientFrame):
    """A call in the chat (docs/realtime.md, Calls): passed to the other party."""

    problems = _CALL
    data: dict[str, Any]


_SESSION_ID = Field(min_length=1, max_length=40)
_SESSION = {"session": ("session_required", "Name the session ('session').")}


class SessionFrame(Frame):
    """hangup, abandon: one of the agent's sessions."""

    problems = _SESSION
    session: str = _SESSION_ID


class AgentMessage(SessionFrame):
    text: Any = None


class AgentCall(SessionFrame):
    problems = {**_SESSION, **_CALL}
    data: dict[str, Any]


class MeterAction(SessionFrame):
    problems = {**_SESSION, "action": ("invalid_event", "'action' is start, pause or resume.")}
    action: Literal["start", "pause", "resume"]


class AvailabilityFrame(Frame):
    status: Any = None


class RequestFrame(Frame):
    """cancel_request: one of the agent's payment requests."""

    problems = {"request": ("request_required", "Name the payment request ('request').")}
    request: str = Field(max_length=40)


class ServiceMark(RequestFrame):
    problems = {**RequestFrame.problems,
                "what": ("invalid_service_mark", "'what' is start or finish.")}  # fmt: skip
    what: Literal["start", "finish"]


class PaymentRequestMessage(Frame):
    """The agent console's ``payment_request`` frame."""

    model_config = Strict
    code = "invalid_payment_request"
    noun = "A payment request"

    @classmethod
    def where(cls, loc: list[Any]) -> str:
        if loc[:1] != ["items"]:
            return super().where(loc)
        # the console's line items, as its form numbers them
        line = f" {loc[1] + 1}" if len(loc) > 1 and isinstance(loc[1], int) else "s"
        field = f", {str(loc[2]).replace('_', ' ')}" if len(loc) > 2 else ""
        return f"line item{line}{field}"

    type: Literal["payment_request"]
    ref: str | int | None = None
    session: str = _SESSION_ID
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
