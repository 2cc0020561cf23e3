"""Chat rooms (tariff, meter controls, agents, terms) and payment requests in chat.

A room has a standard tariff; when it allows agents their own tariff, an agent who has one
is charged by it instead (``tariff_for``). Tariff rows are never changed: changing a tariff
makes a new row, so an open session keeps the tariff its client accepted.

Payment requests (docs/design.md §6): category service or goods, line items whose sum is the total,
paid by the client with a card; the platform fee is by category (10 % / 4 % by default).
For a service, the agent marks when it starts and when it is finished.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import Caller
from fareroom.chat.repository import ChatRepository
from fareroom.clients.service import ClientsService
from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR
from fareroom.mail.outbox import Outbox
from fareroom.mail.receipts import items_of, queue_receipts
from fareroom.metering.service import (
    AroundSession,
    LiveState,
    MeteringService,
    Seat,
    SessionEnded,
)
from fareroom.models.business import Business, User
from fareroom.models.chat import AgentTariff, ChatRoom, Distribution, PaymentRequest, RequestStatus
from fareroom.models.metering import ChatSession, SessionStatus
from fareroom.payments.service import PaymentSource, PaymentsService
from fareroom.pricing.fees import CATEGORIES
from fareroom.pricing.meter import Controls
from fareroom.pricing.tariff import Tariff, TariffWarning, tariff_warnings

AGENT_ROLES = ("owner", "admin", "agent")
MAX_ITEMS = 50
MAX_EMBED_ORIGINS = 20
# scheme://host[:port], a host of DNS labels, optionally every subdomain ("*." in front).
_ORIGIN = re.compile(r"https?://(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
                     r"(:[0-9]{1,5})?")  # fmt: skip


def check_embed_origins(origins: Sequence[str]) -> str:
    """The sites allowed to frame a room's chat page, as stored (space-separated): each an
    origin ``https://shop.example[:port]``, ``*.`` allowed in front of the host only."""
    if len(origins) > MAX_EMBED_ORIGINS:
        raise InvalidEmbedOrigin(f"A room may list at most {MAX_EMBED_ORIGINS} sites.",
                                 field="embed_origins")  # fmt: skip
    found: list[str] = []
    for text in origins:
        origin = text.strip().lower().removesuffix("/")
        if len(origin) > 262 or not _ORIGIN.fullmatch(origin):  # scheme, 253 for the host, port
            raise InvalidEmbedOrigin(
                f"{text.strip()[:100]!r} is not a site's origin: write it as "
                "https://shop.example (scheme and host, a port if needed, no path).",
                field="embed_origins")  # fmt: skip
        if origin not in found:
            found.append(origin)
    return " ".join(found)


def check_agent(caller: Caller) -> User:
    """The console is for the business's users who take chats."""
    if caller.user is None or caller.role not in AGENT_ROLES:
        raise Forbidden("The console is for agents.", code="role_forbidden")
    return caller.user


def embed_origins(room: ChatRoom) -> list[str]:
    return room.embed_origins.split()


@dataclass(frozen=True)
class RoomView:
    room: ChatRoom
    tariff: Tariff
    agent_ids: list[str]
    warnings: list[TariffWarning]


class RoomNotFound(NotFound):
    code = "room_not_found"


class InvalidRoom(ValidationFailed):
    code = "invalid_room"


class InvalidEmbedOrigin(ValidationFailed):
    code = "invalid_embed_origin"


class InvalidLineItems(ValidationFailed):
    code = "invalid_line_items"


class PaymentRequestNotFound(NotFound):
    code = "payment_request_not_found"


class PaymentRequestNotOpen(Conflict):
    code = "payment_request_not_open"


class SessionSurroundings:
    """What a chat's receipt tells of the chat around its session (``metering.Surroundings``:
    the meter asks for it when a session is settled, and imports nothing of chat)."""

    def __init__(self, session: AsyncSession) -> None:
        self._repo = ChatRepository(session)

    async def __call__(self, business_id: str, s: ChatSession) -> AroundSession:
        room = await self._repo.room(business_id, s.room_id)
        agents = await self._repo.users(business_id, [s.agent_id])
        requests = await self._repo.requests(business_id, limit=50, session_id=s.id)
        return AroundSession(
            room.name if room else "", agents[0] if agents else None,
            [(items_of(r), r.payment_id, r.paid_at) for r in requests
             if r.status == RequestStatus.PAID and r.payment_id])  # fmt: skip


class ChatService:
    def __init__(
        self, session: AsyncSession, clock: Clock, clients: ClientsService,
        payments: PaymentsService, metering: MeteringService,
        processing_fee: tuple[Fraction, int],
    ) -> None:  # fmt: skip
        self._repo = ChatRepository(session)
        self._clock = clock
        self._clients = clients
        self._payments = payments
        self._metering = metering
        self._processing_fee = processing_fee
        self._outbox = Outbox(session, clock)

    # ------------------------------------------------------------ tariffs

    def warnings(self, tariff: Tariff) -> list[TariffWarning]:
        rate, fixed = self._processing_fee
        return tariff_warnings(tariff, fee_rate=rate, fee_fixed=fixed)

    async def set_agent_tariff(self, biz: Business, user_id: str,
                               fields: dict[str, Any] | None) -> Tariff | None:  # fmt: skip
        """An agent's own tariff (None removes it)."""
        if await self.user(biz.id, user_id) is None:  # the agent named by the path
            raise NotFound(f"No user {user_id!r} in this business.", code="agent_not_found")
        await self._agents(biz.id, [user_id])
        current = await self._repo.agent_tariff(biz.id, user_id)
        if fields is None:
            if current is not None:
                await self._repo.delete(current)
            return None
        tariff_id, tariff = await self._metering.new_tariff(biz, fields)
        if current is None:
            await self._repo.add(AgentTariff(user_id=user_id, business_id=biz.id,
                                             tariff_id=tariff_id))  # fmt: skip
        else:
            current.tariff_id = tariff_id
        return tariff

    async def tariff_for(self, room: ChatRoom, agent_id: str) -> str:
        """The id of the tariff a session with ``agent_id`` in ``room`` is charged by."""
        if room.agents_own_tariff:
            own = await self._repo.agent_tariff(room.business_id, agent_id)
            if own is not None:
                return own.tariff_id
        return room.tariff_id

    # ------------------------------------------------------------ rooms

    async def _agents(self, business_id: str, user_ids: Sequence[str]) -> list[User]:
        ids = list(dict.fromkeys(user_ids))
        found = {u.id: u for u in await self._repo.users(business_id, ids)}
        for uid in ids:
            user = found.get(uid)
            if user is None:
                raise ValidationFailed(f"No user {uid!r} in this business.",
                                       code="agent_not_found", agent_id=uid)  # fmt: skip
            if user.role not in AGENT_ROLES:
                raise ValidationFailed(f"User {uid!r} is {user.role}; agents are owners, "
                                       "admins or agents.", code="not_an_agent")  # fmt: skip
        return [found[uid] for uid in ids]

    async def create_room(
        self, biz: Business, *, name: str, terms: str, tariff: dict[str, Any],
        agent_may_start: bool = False, agent_may_pause: bool = False,
        agents_own_tariff: bool = False, agent_ids: Sequence[str] = (),
        distribution: str = "round_robin", room_id: str | None = None,
        embed_origins: Sequence[str] = (),
        away_message: str | None = None,
    ) -> RoomView:  # fmt: skip
        if not name.strip() or not terms.strip():
            raise InvalidRoom("A room needs a name and terms for the client to accept.")
        _check_distribution(distribution)
        origins = check_embed_origins(embed_origins)
        agents = await self._agents(biz.id, agent_ids)
        tariff_id, checked = await self._metering.new_tariff(biz, tariff)
        room = ChatRoom(id=room_id or new_id("room"), business_id=biz.id, name=name.strip(),
                        terms=terms.strip(), tariff_id=tariff_id, agent_may_start=agent_may_start,
                        agent_may_pause=agent_may_pause, agents_own_tariff=agents_own_tariff,
                        distribution=distribution, embed_origins=origins,
                        away_message=_away(away_message),
                        created_at=self._clock.now())  # fmt: skip
        await self._repo.add(room)
        await self._repo.set_room_agents(room.id, [a.id for a in agents])
        return RoomView(room, checked, [a.id for a in agents], self.warnings(checked))

    async def room(self, business_id: str, room_id: str) -> ChatRoom:
        room = await self._repo.room(business_id, room_id)
        if room is None:
            raise RoomNotFound(f"No chat room {room_id!r} in this business.")
        return room

    async def view(self, business_id: str, room_id: str) -> RoomView:
        return await self._view(await self.room(business_id, room_id))

    async def _view(self, room: ChatRoom) -> RoomView:
        tariff = await self._metering.tariff(room.tariff_id)
        return RoomView(room, tariff, await self._repo.room_agents(room.id),
                        self.warnings(tariff))  # fmt: skip

    async def rooms(self, business_id: str) -> list[RoomView]:
        return [await self._view(room) for room in await self._repo.rooms(business_id)]

    async def update_room(
        self, biz: Business, room_id: str, *, tariff: dict[str, Any] | None = None,
        agent_ids: Sequence[str] | None = None, embed_origins: Sequence[str] | None = None,
        **settings: Any,
    ) -> RoomView:  # fmt: skip
        """Change a room; sessions already open keep what their client accepted."""
        room = await self.room(biz.id, room_id)
        if settings.get("distribution") is not None:
            _check_distribution(settings["distribution"])
        if embed_origins is not None:
            room.embed_origins = check_embed_origins(embed_origins)
        if agent_ids is not None:
            agents = await self._agents(biz.id, agent_ids)
            await self._repo.set_room_agents(room.id, [a.id for a in agents])
        if tariff is not None:
            room.tariff_id = (await self._metering.new_tariff(biz, tariff))[0]
        for key, value in settings.items():
            if value is not None:
                if key in ("name", "terms") and not str(value).strip():
                    raise InvalidRoom(f"'{key}' may not be empty.")
                setattr(room, key, value.strip() if isinstance(value, str) else value)
        room.away_message = _away(room.away_message)
        return await self._view(room)

    async def room_agent_ids(self, room_id: str) -> list[str]:
        return await self._repo.room_agents(room_id)

    async def user(self, business_id: str, user_id: str) -> User | None:
        found = await self._repo.users(business_id, [user_id])
        return found[0] if found else None

    async def agent_of(self, room: ChatRoom, agent_id: str) -> User:
        """``agent_id`` if they take chats in ``room``."""
        if agent_id not in await self._repo.room_agents(room.id):
            raise ValidationFailed("This agent does not take chats in this room.",
                                   code="agent_not_in_room")  # fmt: skip
        return (await self._agents(room.business_id, [agent_id]))[0]

    async def seat(self, room: ChatRoom, agent_id: str) -> Seat:
        """Where a session with ``agent_id`` in ``room`` opens: the agent must take chats
        there; the tariff is theirs where the room allows it."""
        await self.agent_of(room, agent_id)
        return Seat(room.id, agent_id, await self.tariff_for(room, agent_id),
                    Controls(room.agent_may_start, room.agent_may_pause), room.terms)  # fmt: skip

    async def open_session(
        self, biz: Business, *, room_id: str, agent_id: str, client_id: str,
        card_id: str | None, accepted_terms: bool, session_id: str | None = None,
    ) -> LiveState:  # fmt: skip
        """Open a metered session in a room (the API's; a page's client is connected by
        ``LiveService``): the client accepted the terms and the hold succeeded."""
        seat = await self.seat(await self.room(biz.id, room_id), agent_id)
        return await self._metering.open(biz, seat, client_id=client_id, card_id=card_id,
                                         accepted_terms=accepted_terms,
                                         session_id=session_id)  # fmt: skip

    # ------------------------------------------------------------ payment requests

    async def create_request(
        self, biz: Business, *, room_id: str, agent_id: str, client_id: str, category: str,
        items: Sequence[dict[str, Any]], total: int | None = None, session_id: str | None = None,
        request_id: str | None = None,
    ) -> PaymentRequest:  # fmt: skip
        room = await self.room(biz.id, room_id)
        await self.agent_of(room, agent_id)
        client = await self._clients.get(biz.id, client_id)
        if session_id is not None:
            await self._request_session(biz.id, session_id, client_id=client.id)
        if category not in CATEGORIES:
            raise ValidationFailed("'category' is 'service' or 'goods'.", code="invalid_category")
        lines = _line_items(items)
        computed = sum(line["quantity"] * line["unit_price"] for line in lines)
        if total is not None and total != computed:
            raise ValidationFailed(
                f"The total {total} is not the sum of the line items ({computed}).",
                code="total_mismatch", computed=computed,
            )  # fmt: skip
        if not MIN_CHARGE_MINOR <= computed <= MAX_CHARGE_MINOR:
            raise ValidationFailed(
                f"A request's total lies between {MIN_CHARGE_MINOR} and {MAX_CHARGE_MINOR} "
                "minor units.", code="invalid_total", computed=computed,
            )  # fmt: skip
        request = PaymentRequest(
            id=request_id or new_id("preq"), business_id=biz.id, room_id=room.id,
            agent_id=agent_id, client_id=client.id, session_id=session_id, category=category,
            items=lines, total=computed, currency=biz.default_currency, status=RequestStatus.OPEN,
            created_at=self._clock.now(),
        )  # fmt: skip
        await self._repo.add(request)
        return request

    async def _request_session(self, business_id: str, session_id: str, *, client_id: str
                               ) -> None:  # fmt: skip
        """A request sent in a chat belongs to an open session of this business, with the
        request's client (another business's session is as unknown as a missing one)."""
        session = await self._metering.session(business_id, session_id)
        if session.status != SessionStatus.OPEN:
            raise SessionEnded("The chat has ended; a payment request needs an open chat.",
                               session_status=session.status)  # fmt: skip
        if session.client_id != client_id:
            raise ValidationFailed("This chat session is another client's.",
                                   code="session_client_mismatch")  # fmt: skip

    async def request(self, business_id: str, request_id: str, *, lock: bool = False
                      ) -> PaymentRequest:  # fmt: skip
        found = await self._repo.request(business_id, request_id, lock=lock)
        if found is None:
            raise PaymentRequestNotFound(f"No payment request {request_id!r} in this business.")
        return found

    async def requests(self, business_id: str, *, limit: int = 50) -> Sequence[PaymentRequest]:
        return await self._repo.requests(business_id, limit=limit)

    async def requests_of_session(self, business_id: str, session_id: str
                                  ) -> Sequence[PaymentRequest]:  # fmt: skip
        return await self._repo.requests(business_id, limit=50, session_id=session_id)

    async def pay_request(self, biz: Business, request_id: str, *, card_id: str | None
                          ) -> PaymentRequest:  # fmt: skip
        request = await self.request(biz.id, request_id, lock=True)
        _require_open(request)
        # Paid while its chat is not settled, the request goes on the chat's receipt. The
        # chat's row is locked first (before the charge's ledger accounts, in the order
        # the chat's own collections lock them), so the chat cannot be settled meanwhile.
        session_id = request.session_id
        in_chat = session_id is not None and await self._metering.unsettled(session_id)
        payment = await self._payments.charge(
            biz, client_id=request.client_id, card_id=card_id, amount=request.total,
            currency=request.currency, category=request.category, capture=True,
            description=f"Payment request {request.id}", payment_id=f"pay_{request.id}",
            source=PaymentSource(request.id, request.room_id, request.agent_id),
        )  # fmt: skip
        request.status = RequestStatus.PAID
        request.payment_id = payment.id
        request.paid_at = self._clock.now()
        if in_chat:
            return request  # the chat's one receipt lists it, when the chat is settled
        client = await self._clients.get(biz.id, request.client_id)
        agent = (await self._repo.users(biz.id, [request.agent_id]))[0]
        card = await self._clients.card_label(biz.id, client.id, payment.card_id)
        await queue_receipts(self._outbox, payment=payment, client=client, agent=agent,
                             what=items_of(request), business_name=biz.name,
                             card=card)  # fmt: skip
        return request

    async def agents_request(self, business_id: str, request_id: str, agent_id: str | None
                             ) -> PaymentRequest:  # fmt: skip
        """The request, locked; with ``agent_id`` (the console's), one of that agent's."""
        request = await self.request(business_id, request_id, lock=True)
        if agent_id is not None and request.agent_id != agent_id:
            raise PaymentRequestNotFound("That is not one of your requests.")
        return request

    async def cancel_request(self, business_id: str, request_id: str, *,
                             agent_id: str | None = None) -> PaymentRequest:  # fmt: skip
        request = await self.agents_request(business_id, request_id, agent_id)
        _require_open(request)
        request.status = RequestStatus.CANCELED
        return request

    async def mark_service(self, business_id: str, request_id: str, what: str, *,
                           agent_id: str | None = None) -> PaymentRequest:  # fmt: skip
        """``what`` is ``start`` ("service starts now") or ``finish`` ("service finished")."""
        request = await self.agents_request(business_id, request_id, agent_id)
        if request.category != "service":
            raise Conflict("Only a request for a service has a start and a finish.",
                           code="not_a_service")  # fmt: skip
        if request.status == RequestStatus.CANCELED:
            raise PaymentRequestNotOpen("This payment request is canceled.")
        now = self._clock.now()
        if what == "start":
            if request.service_started_at is not None:
                raise Conflict("The service has started already.", code="service_already_started")
            request.service_started_at = now
        else:
            if request.service_started_at is None:
                raise Conflict("The service has not started yet.", code="service_not_started")
            if request.service_finished_at is not None:
                raise Conflict("The service is finished already.", code="service_already_finished")
            request.service_finished_at = now
        return request


def _away(message: str | None) -> str | None:
    """A room's away message; blank means the page's default."""
    return (message.strip() or None) if message else None


def _require_open(request: PaymentRequest) -> None:
    if request.status != RequestStatus.OPEN:
        raise PaymentRequestNotOpen(f"This payment request is {request.status}.",
                                    request_status=request.status)  # fmt: skip


def _check_distribution(distribution: str) -> None:
    if distribution not in set(Distribution):
        raise ValidationFailed("'distribution' is round_robin or longest_idle.",
                               code="invalid_distribution")  # fmt: skip


def _line_items(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not items or len(items) > MAX_ITEMS:
        raise InvalidLineItems(f"A request has 1 to {MAX_ITEMS} line items.")
    lines = []
    for n, item in enumerate(items):
        description = str(item.get("description", "")).strip()
        quantity, unit_price = item.get("quantity"), item.get("unit_price")
        if not description or len(description) > 200:
            raise InvalidLineItems(f"Line {n + 1} needs a description (200 characters at most).",
                                   line=n + 1)  # fmt: skip
        for field, value, low in (("quantity", quantity, 1), ("unit_price", unit_price, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or not \
                    low <= value <= MAX_CHARGE_MINOR:  # fmt: skip
                if field == "quantity":
                    words = "the quantity is a whole number from 1 up"
                elif not isinstance(value, int) or isinstance(value, bool):
                    words = "the price each is a whole number of minor units (2500 for 25.00)"
                else:
                    words = ("the price each must be above zero" if value < low
                             else "the price each is too high")  # fmt: skip
                raise InvalidLineItems(f"Line {n + 1}: {words}.", line=n + 1, field=field)
        lines.append({"description": description, "quantity": quantity, "unit_price": unit_price})
    return lines
