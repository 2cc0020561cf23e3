"""Live chat: a client's visit, the queue, agents' availability, routing, chat messages.

A client's **visit** goes: contact form (name, email, first question) → the room's terms
and tariff accepted → a card given and a hold of the room's pre-authorisation placed on it
→ waiting in the room's queue → connected to an agent (a metered session opened with that
hold). The client's page proves it is the visit with a resume token ``<visit id>.<secret>``;
only the secret's hash is kept, and ``rotate`` replaces it each time a page connects, so a
token that was used once (read from a log, a screen, another browser) is refused.

**Routing** gives the longest-waiting client whose page is connected an idle agent of the
room: online by their own choice, connected (the hub's presence) and with no open session.
Per room, ``round_robin`` takes the next idle agent after the one last given a client there,
``longest_idle`` the agent idle the longest. The room's row is locked while it routes, and
each agent's availability row while it is given a client, so two processes never give one
agent two clients.

**Availability**: a room is available while at least one of its agents is online and
connected (the notion routing uses; a busy agent counts, the client queues). A client is
never held for a room that cannot connect them: the contact form and the hold are refused
(``no_agent_available``, with the room's away message) and the page offers to leave an
email instead (a lead, listed on the room's page for the owner). A client already waiting
when the last agent goes keeps their place and is told no agent is online (the worker's
round, ``watch_queue``, notes since when: ``ChatVisit.nobody_since``); they may leave an
email, leave (the hold is released) or keep waiting, and once nobody has been online for
``nobody_wait`` (``FAREROOM_QUEUE_NOBODY_SECONDS``) they are made to leave, the hold
released. A page gone for the presence timeout is left as before.

**Limits** (``VisitLimits``): visits (the contact form) per address and per room and
address, hold attempts (a card given, declined or not) per room and address, and chat
messages per party of a session. A refused attempt writes nothing and never reaches the
gateway; the address is the connecting peer's.

Decisions: the hold is the room's pre-authorisation even when the agent's own tariff
applies (it is placed before an agent is known); a client who leaves before being
connected gets the hold released; a visit whose email matches a client of the business
reuses that client record (one client per address in the business's books), but an
email address typed in a public form proves nothing: the visitor is shown only what they
typed (``ChatVisit.name``), never the record's name or saved cards, and gives a card of
their own for the hold. One browser has one open visit per room: a contact form sent with
the token of an open visit is refused (``visit_already_open``); the page rejoins it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import sha256
from fareroom.chat.repository import LiveRepository
from fareroom.chat.service import ChatService, PaymentRequestNotFound, RoomNotFound
from fareroom.clients.service import CardView, ClientsService
from fareroom.kit.clock import Clock
from fareroom.kit.db import Keyset
from fareroom.kit.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.ratelimit import Limit, RateLimiter, check_all
from fareroom.metering.service import LiveState, MeteringService, SessionEnded, SessionNotFound
from fareroom.models.business import Business
from fareroom.models.chat import (
    BEFORE_CONNECTED,
    AgentPresence,
    Availability,
    ChatLead,
    ChatMessage,
    ChatRoom,
    ChatVisit,
    PaymentRequest,
    RequestStatus,
    VisitStatus,
)
from fareroom.models.metering import (
    SETTLED,
    ChatSession,
    Collection,
    CollectionStatus,
    SessionStatus,
)
from fareroom.payments.service import PaymentSource, PaymentsService

MAX_TEXT = 4000
TRANSCRIPT_LIMIT = 2000
AWAY_MESSAGE = "Nobody can take your chat right now."

# Which of the given presence keys are connected now.
Connected = Callable[[Sequence[str]], Awaitable[set[str]]]


def agent_key(user_id: str) -> str:
    return f"agent:{user_id}"


def visit_key(visit_id: str) -> str:
    return f"visit:{visit_id}"


def check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("A message needs some text.", code="empty_message")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"A message has at most {MAX_TEXT} characters.",
                               code="message_too_long")  # fmt: skip
    return text.strip()


class VisitNotConnected(Conflict):
    code = "visit_not_connected"


class InvalidName(ValidationFailed):
    code = "invalid_name"


@dataclass(frozen=True)
class VisitSummary:
    """What the client's end screen shows: what was collected for the time, the paid
    payment requests, the total paid, and the transcript."""

    state: LiveState
    collections: list[Collection]
    requests: list[PaymentRequest]
    messages: list[ChatMessage]

    @property
    def total_paid(self) -> int:
        return self.state.session.collected + sum(r.total for r in self.requests)


@dataclass
class Routed:
    """What a routing round did: clients given agents, and clients whose hold lapsed while
    they waited (back at the card step)."""

    assigned: list[Assignment] = field(default_factory=list)
    lapsed: list[ChatVisit] = field(default_factory=list)


@dataclass(frozen=True)
class VisitLimits:
    """How often one address may start visits and place holds, and a party may speak."""

    limiter: RateLimiter
    visits_per_address: Limit
    visits_per_room_address: Limit
    holds_per_room_address: Limit
    messages_per_party: Limit
    leads_per_address: Limit
    request_payments_per_room_address: Limit

    async def _from(self, address: str | None, refusal: str, *keys: tuple[str, Limit]
                    ) -> None:  # fmt: skip
        """Count each ``(key, limit)`` for ``address`` (a page with none is not counted)."""
        if address:
            await check_all(self.limiter, [(f"{key}:{address}", limit) for key, limit in keys],
                            refusal)  # fmt: skip

    async def visit(self, room_id: str, address: str | None) -> None:
        await self._from(address, "Too many chats were started from your address.",
                         ("visits:address", self.visits_per_address),
                         (f"visits:room:{room_id}", self.visits_per_room_address))  # fmt: skip

    async def hold(self, room_id: str, address: str | None) -> None:
        await self._from(address, "Too many cards were tried from your address.",
                         (f"holds:room:{room_id}", self.holds_per_room_address))  # fmt: skip

    async def lead(self, address: str | None) -> None:
        await self._from(address, "Too many messages were left from your address.",
                         ("leads:address", self.leads_per_address))  # fmt: skip

    async def request_payment(self, room_id: str, address: str | None) -> None:
        await self._from(address, "Too many payments were tried from your address.",
                         (f"request-payments:room:{room_id}",
                          self.request_payments_per_room_address))  # fmt: skip

    async def message(self, session_id: str, party: str) -> None:
        await check_all(self.limiter,
                        [(f"messages:{session_id}:{party}", self.messages_per_party)],
                        "You are sending messages too fast.")  # fmt: skip


@dataclass(frozen=True)
class QueueWatch:
    """What ``watch_queue`` changed in a room's queue: the visits told that nobody is (or
    somebody is again) online, and those whose hold it released after the wait."""

    changed: list[ChatVisit]
    released: list[ChatVisit]


@dataclass(frozen=True)
class ConsoleSessions:
    follow: list[str]
    live: list[str]


@dataclass(frozen=True)
class Assignment:
    """A waiting client given an agent: the session opened for them."""

    visit: ChatVisit
    state: LiveState


class LiveService:
    def __init__(
        self, session: AsyncSession, clock: Clock, chat: ChatService, clients: ClientsService,
        payments: PaymentsService, metering: MeteringService, *, limits: VisitLimits,
        nobody_wait: timedelta = timedelta(seconds=300),
    ) -> None:  # fmt: skip
        self._repo = LiveRepository(session)
        self._nobody_wait = nobody_wait
        self._limits = limits
        self._clock = clock
        self._chat = chat
        self._clients = clients
        self._payments = payments
        self._metering = metering

    # ------------------------------------------------------------ the client's visit

    async def public_room(self, room_id: str) -> tuple[ChatRoom, Business]:
        room = await self._repo.room(room_id) if len(room_id) <= 40 else None
        if room is None:
            raise RoomNotFound("There is no such chat room.")
        return room, await self._payments.business(room.business_id)

    async def start_visit(self, room_id: str, *, name: str, email: str, question: str,
                          connected: Connected, current: str | None = None,
                          address: str | None = None) -> tuple[ChatVisit, str]:  # fmt: skip
        """The contact form: a visit (for the business's client with that email, or a new
        one); returns the visit and its token. ``current`` is the token the browser holds
        for this room, if any: while its visit is open, no second one is started.
        ``address`` (the page's) is limited in how many visits it starts."""
        room, biz = await self.public_room(room_id)
        if len(name) > 200:
            raise InvalidName("A name has at most 200 characters.")
        question = check_text(question)
        await self._limits.visit(room.id, address)
        await self._refuse_second_visit(room.id, current)
        await self.require_agent(room, connected)
        client = await self._clients.for_email(biz.id, name=name, email=email)
        secret = secrets.token_urlsafe(24)
        visit = ChatVisit(id=new_id("vis"), business_id=biz.id, room_id=room.id,
                          client_id=client.id, name=name.strip(), question=question,
                          status=VisitStatus.TERMS, token_hash=sha256(secret),
                          created_at=self._clock.now())  # fmt: skip
        await self._repo.add(visit)
        return visit, f"{visit.id}.{secret}"

    async def _refuse_second_visit(self, room_id: str, current: str | None) -> None:
        try:
            visit = await self.visit(current) if current else None
        except Unauthenticated:
            return  # a spent or forged token starts afresh
        if visit is not None and visit.room_id == room_id and await self.is_open(visit):
            raise Conflict("You already have a chat open here; it continues on this page.",
                           code="visit_already_open", visit_id=visit.id)  # fmt: skip

    async def is_open(self, visit: ChatVisit) -> bool:
        """Before the queue, in it, or in a session not yet settled."""
        if visit.status in BEFORE_CONNECTED:
            return True
        if visit.status != VisitStatus.CONNECTED or visit.session_id is None:
            return False
        session = await self._metering.session(visit.business_id, visit.session_id)
        return session.status not in SETTLED

    @staticmethod
    def away_message(room: ChatRoom) -> str:
        return room.away_message or AWAY_MESSAGE

    async def available(self, room_id: str, connected: Connected) -> bool:
        """At least one of the room's agents is online and connected (busy or not)."""
        agents = await self._chat.room_agent_ids(room_id)
        presence = await self._repo.presence(agents)
        online = [agent_key(a) for a, p in presence.items() if p.status == Availability.ONLINE]
        return bool(online) and bool(await connected(online))

    async def require_agent(self, room: ChatRoom, connected: Connected) -> None:
        if not await self.available(room.id, connected):
            raise Conflict(f"{self.away_message(room)} Leave your email and we will get back "
                           "to you.", code="no_agent_available",
                           away_message=self.away_message(room))  # fmt: skip

    async def leave_lead(self, room_id: str, *, name: str, email: str, message: str,
                         address: str | None = None) -> ChatLead:  # fmt: skip
        """An offline message: whom the business should get back to, and about what.
        ``address`` (the page's) is limited in how many it leaves."""
        room, biz = await self.public_room(room_id)
        name, email = name.strip(), email.strip().lower()
        if not name or len(name) > 200:
            raise InvalidName("Give your name (200 characters at most).")
        if "@" not in email.strip("@") or len(email) > 254:
            raise ValidationFailed("The email address is not valid.", code="invalid_email")
        await self._limits.lead(address)
        lead = ChatLead(id=new_id("lead"), business_id=biz.id, room_id=room.id, name=name,
                        email=email, message=check_text(message),
                        created_at=self._clock.now())  # fmt: skip
        await self._repo.add(lead)
        return lead

    async def leads(self, business_id: str, room_id: str, *, limit: int = 50) -> list[ChatLead]:
        return list(await self._repo.leads(business_id, room_id, limit=limit))

    async def visit(self, token: object, *, lock: bool = False) -> ChatVisit:
        """The visit a resume token names, if the token is its current one."""
        visit_id, _, secret = token.partition(".") if isinstance(token, str) else ("", "", "")
        found = await self._repo.visit(visit_id, lock=lock) if 0 < len(visit_id) <= 40 else None
        if found is None or not hmac.compare_digest(sha256(secret), found.token_hash):
            raise Unauthenticated("This chat can no longer be resumed from here.",
                                  code="resume_token_invalid")  # fmt: skip
        return found

    def rotate(self, visit: ChatVisit) -> str:
        """A new token for the visit; the one used to get here stops working."""
        secret = secrets.token_urlsafe(24)
        visit.token_hash = sha256(secret)
        return f"{visit.id}.{secret}"

    async def terms(self, visit: ChatVisit) -> str:
        """What the client accepts: the room's terms and its tariff in words (and, where
        agents may charge by their own tariff, that it applies)."""
        room = await self._chat.room(visit.business_id, visit.room_id)
        tariff = await self._metering.tariff(room.tariff_id)
        own = ("\n\nAn agent with a tariff of their own charges by it; it is shown when you "
               "are connected.") if room.agents_own_tariff else ""  # fmt: skip
        return f"{room.terms}\n\nTariff: {tariff.describe()}{own}"

    async def accept_terms(self, visit: ChatVisit) -> ChatVisit:
        if visit.status not in (VisitStatus.TERMS, VisitStatus.CARD):
            raise Conflict("The terms were accepted already.", code="visit_not_at_terms",
                           visit_status=visit.status)  # fmt: skip
        visit.terms = await self.terms(visit)
        visit.terms_accepted_at = self._clock.now()
        visit.status = VisitStatus.CARD
        return visit

    async def give_card(self, visit: ChatVisit, *, token: str, connected: Connected,
                        address: str | None = None) -> ChatVisit:  # fmt: skip
        """Register the card and place the hold; a declined hold writes nothing (the
        client is asked for another card). No hold while no agent could take the chat.
        Every attempt counts against ``address``'s holds in the room, declined ones too
        (cards tried one after another)."""
        if visit.status != VisitStatus.CARD:
            raise Conflict("This visit does not need a card now.", code="visit_not_at_card",
                           visit_status=visit.status)  # fmt: skip
        await self._limits.hold(visit.room_id, address)
        biz = await self._payments.business(visit.business_id)
        room = await self._chat.room(biz.id, visit.room_id)
        await self.require_agent(room, connected)
        tariff = await self._metering.tariff(room.tariff_id)
        card = await self._clients.add_card(biz.id, visit.client_id, token=token)
        hold = await self._payments.charge(
            biz, client_id=visit.client_id, card_id=card.card.id, amount=tariff.preauth_amount,
            currency=tariff.currency, category="service", capture=False,
            description=f"Hold for a chat in {room.name}",
            source=PaymentSource(visit.id, room.id, None))  # fmt: skip
        now = self._clock.now()
        visit.card_id, visit.hold_payment_id = card.card.id, hold.id
        visit.status, visit.queued_at = VisitStatus.WAITING, now
        return visit

    async def session_card(self, visit: ChatVisit, *, token: str, address: str | None = None
                           ) -> CardView:  # fmt: skip
        """Another card for the visit's session (after a failed payment, what is due is
        charged to it). A card attempt like the hold's: it counts against ``address``'s
        card attempts in the room, declined ones too."""
        if visit.session_id is None:
            raise VisitNotConnected("You are not in a chat yet.")
        await self._limits.hold(visit.room_id, address)
        biz = await self._payments.business(visit.business_id)
        card = await self._clients.add_card(biz.id, visit.client_id, token=token)
        await self._metering.change_card(biz, visit.session_id, card.card.id)
        return card

    async def pay_request(self, visit: ChatVisit, request_id: str, *,
                          address: str | None = None) -> PaymentRequest:  # fmt: skip
        """Pay a payment request of the visit's session with the session's card; each
        attempt counts against ``address``'s payments in the room."""
        found = await self._chat.request(visit.business_id, request_id)
        if visit.session_id is None or found.session_id != visit.session_id:
            raise PaymentRequestNotFound("No such payment request in your chat.")
        await self._limits.request_payment(visit.room_id, address)
        session = await self._metering.session(visit.business_id, visit.session_id)
        biz = await self._payments.business(visit.business_id)
        return await self._chat.pay_request(biz, request_id, card_id=session.card_id)

    async def leave(self, visit: ChatVisit) -> ChatVisit:
        """The client gives up before being connected: the hold is released."""
        if visit.status not in BEFORE_CONNECTED:
            raise Conflict("This chat has begun; hang up instead.", code="visit_connected")
        if visit.hold_payment_id:
            biz = await self._payments.business(visit.business_id)
            await self._payments.cancel(biz, visit.hold_payment_id)
        visit.status = VisitStatus.LEFT
        return visit

    async def summary(self, visit: ChatVisit) -> VisitSummary:
        """The end screen of a visit whose session has begun: the collections that took
        money (not a final one of nothing, which released the hold), the paid requests."""
        if visit.session_id is None:
            raise VisitNotConnected("You are not in a chat yet.")
        state = await self._metering.state(visit.business_id, visit.session_id)
        collections = await self._metering.collections(visit.business_id, visit.session_id)
        requests = await self._chat.requests_of_session(visit.business_id, visit.session_id)
        took = [c for c in collections if c.status == CollectionStatus.SUCCEEDED and c.amount > 0]
        paid = [r for r in requests if r.status == RequestStatus.PAID]
        return VisitSummary(
            state,
            took,
            sorted(paid, key=lambda r: r.created_at),
            await self.messages(visit.session_id, limit=TRANSCRIPT_LIMIT),
        )

    async def position(self, visit: ChatVisit) -> int | None:
        """1 for the next client to be connected; None when not waiting."""
        if visit.status != VisitStatus.WAITING:
            return None
        ids = [v.id for v in await self._repo.waiting(visit.room_id)]
        return ids.index(visit.id) + 1 if visit.id in ids else None

    def release_at(self, visit: ChatVisit) -> datetime | None:
        """When a waiting visit with no agent online is made to leave (its hold released),
        unless an agent comes online first; None while someone is online."""
        if visit.status != VisitStatus.WAITING or visit.nobody_since is None:
            return None
        return visit.nobody_since + self._nobody_wait

    async def watch_queue(self, room_id: str, connected: Connected) -> QueueWatch:
        """The worker's look at a room's queue: while none of its agents is online, each
        waiting visit notes since when (its page is told), and one that has waited
        ``nobody_wait`` so is made to leave, its hold released (told too); an agent back
        online clears the note. The room is locked as routing locks it, so a client being
        connected is never released as well."""
        if not await self._repo.waiting(room_id, limit=1):
            return QueueWatch([], [])
        room = await self._repo.room(room_id, lock=True)
        if room is None:
            return QueueWatch([], [])
        waiting = await self._repo.waiting(room.id, fresh=True)
        available = await self.available(room.id, connected)
        now = self._clock.now()
        changed: list[ChatVisit] = []
        released: list[ChatVisit] = []
        for visit in waiting:
            if available:
                if visit.nobody_since is not None:
                    visit.nobody_since = None
                    changed.append(visit)
            elif visit.nobody_since is None:
                visit.nobody_since = now
                changed.append(visit)
            elif now >= visit.nobody_since + self._nobody_wait:
                released.append(await self.leave(visit))
        return QueueWatch(changed, released)

    async def queue(self, room_id: str) -> list[ChatVisit]:
        return list(await self._repo.waiting(room_id))

    async def visit_of_session(self, session_id: str) -> ChatVisit | None:
        return await self._repo.visit_of_session(session_id)

    async def stale_visits(self, before: datetime, *, after: Keyset | None = None,
                           limit: int = 100) -> list[ChatVisit]:  # fmt: skip
        """A page of the visits not yet connected that were started before ``before``,
        oldest first, after the visit ``after`` names (its start and id)."""
        return list(await self._repo.started_before(before, BEFORE_CONNECTED, limit=limit,
                                                    after=after))  # fmt: skip

    async def lock_visit(self, visit_id: str) -> ChatVisit | None:
        return await self._repo.visit(visit_id, lock=True)

    async def page_visit(self, visit_id: str) -> ChatVisit:
        """The visit a client's page was greeted for, locked."""
        visit = await self.lock_visit(visit_id)
        if visit is None:
            raise NotFound("This visit is gone.", code="visit_not_found")
        return visit

    async def visit_session(self, visit_id: str, named: object = None) -> ChatSession:
        """The session of the visit a client's page was greeted for (``named``, if the page
        names one, must be it)."""
        visit = await self.page_visit(visit_id)
        if visit.session_id is None or (named is not None and named != visit.session_id):
            raise SessionNotFound("You are not in that chat.")
        return await self._metering.session(visit.business_id, visit.session_id)

    # ------------------------------------------------------------ agents

    async def availability(self, business_id: str, user_id: str) -> str:
        found = (await self._repo.presence([user_id])).get(user_id)
        return found.status if found and found.business_id == business_id else Availability.OFFLINE

    async def set_availability(self, business_id: str, user_id: str, chosen: str
                               ) -> Availability:  # fmt: skip
        if chosen not in set(Availability):
            raise ValidationFailed("Availability is online, away or offline.",
                                   code="invalid_availability")  # fmt: skip
        status = Availability(chosen)
        now = self._clock.now()
        found = (await self._repo.presence([user_id], lock=True)).get(user_id)
        if found is None:
            await self._repo.add(
                AgentPresence(
                    user_id=user_id,
                    business_id=business_id,
                    status=status,
                    idle_since=now,
                    updated_at=now,
                )
            )
        elif found.status != status:
            found.status, found.updated_at = status, now
            if status == Availability.ONLINE:
                found.idle_since = now
        return status

    async def agent_sessions(self, business_id: str, agent_id: str, *, limit: int = 20
                             ) -> list[ChatSession]:  # fmt: skip
        return await self._metering.agent_sessions(business_id, agent_id, limit=limit)

    async def console_sessions(self, business_id: str, agent_id: str) -> ConsoleSessions:
        """The agent's sessions the console follows (not yet settled), and those of them
        whose presence is the console's (connected through pages)."""
        found = [x for x in await self.agent_sessions(business_id, agent_id)
                 if x.status not in SETTLED]  # fmt: skip
        return ConsoleSessions([x.id for x in found], [x.id for x in found if x.live])

    async def agent_session(self, business_id: str, agent_id: str, session_id: str
                            ) -> ChatSession:  # fmt: skip
        """One of the agent's sessions (another agent's is as unknown as a missing one)."""
        try:
            session = await self._metering.session(business_id, session_id)
        except SessionNotFound:
            session = None
        if session is None or session.agent_id != agent_id:
            raise SessionNotFound("That is not one of your chats.")
        return session

    async def rooms_of_agent(self, user_id: str, *, waiting: bool = False) -> list[str]:
        return list(await self._repo.rooms_of_agent(user_id, waiting=waiting))

    async def agent_freed(self, agent_id: str) -> None:
        """The agent's session ended: idle from now (for the longest-idle order)."""
        found = (await self._repo.presence([agent_id], lock=True)).get(agent_id)
        if found is not None:
            found.idle_since = self._clock.now()

    # ------------------------------------------------------------ routing

    async def rooms_with_waiting(self) -> list[str]:
        return list(await self._repo.rooms_with_waiting())

    async def route(self, room_id: str, connected: Connected) -> Routed:
        """Give waiting clients (whose page is connected) idle agents, oldest first. The
        room's row is locked only when someone waits, so consoles that connect while
        nobody waits (the common case) do not queue behind one another. A client whose hold
        lapsed meanwhile leaves the queue for the card step (``Routed.lapsed``)."""
        routed = Routed()
        if not await self._repo.waiting(room_id):
            return routed
        room = await self._repo.room(room_id, lock=True)
        if room is None:
            return routed
        waiting = await self._repo.waiting(room.id)
        if not waiting:
            return routed
        agents = await self._chat.room_agent_ids(room.id)
        live = await connected([agent_key(a) for a in agents]
                               + [visit_key(v.id) for v in waiting])  # fmt: skip
        idle = await self._idle(agents, live)
        for visit in waiting:
            if not idle:
                break
            if visit_key(visit.id) not in live:
                continue
            picked = self._pick(room, idle)
            idle.remove(picked)
            agent = picked[1]
            # Lock the agent's row and look again: another room may have given them a client.
            await self._repo.presence([agent], lock=True)
            if await self._metering.busy_agents([agent]):
                continue
            try:
                routed.assigned.append(await self._connect(room, visit, agent))
            except Conflict as exc:  # the hold lapsed: the client is asked for a card again
                if exc.code != "hold_missing":
                    raise
                visit.status, visit.hold_payment_id = VisitStatus.CARD, None
                await self._repo.add(visit)  # written now: the queue is read again after
                routed.lapsed.append(visit)
                idle.append(picked)
                idle.sort(key=lambda i: i[1])
        return routed

    async def _idle(self, agents: list[str], live: set[str]) -> list[tuple[datetime, str]]:
        """(idle since, agent) of the idle agents, by agent id; idle since the later of
        going online and the end of their last session."""
        presence = await self._repo.presence(agents)
        busy = await self._metering.busy_agents(agents)
        ended = await self._metering.last_ended(agents)
        return [(max(p.idle_since, ended.get(a, p.idle_since)), a)
                for a, p in sorted(presence.items()) if p.status == Availability.ONLINE
                and a not in busy and agent_key(a) in live]  # fmt: skip

    @staticmethod
    def _pick(room: ChatRoom, idle: list[tuple[datetime, str]]) -> tuple[datetime, str]:
        if room.distribution == "longest_idle":
            return min(idle)
        after = [i for i in idle if room.last_agent_id and i[1] > room.last_agent_id]
        return after[0] if after else idle[0]  # idle is sorted by agent id

    async def _connect(self, room: ChatRoom, visit: ChatVisit, agent_id: str) -> Assignment:
        biz = await self._payments.business(room.business_id)
        state = await self._metering.open(
            biz, await self._chat.seat(room, agent_id), client_id=visit.client_id,
            card_id=visit.card_id, accepted_terms=True, hold_payment_id=visit.hold_payment_id,
            terms=visit.terms, accepted_at=visit.terms_accepted_at, live=True)  # fmt: skip
        now = self._clock.now()
        visit.status, visit.session_id = VisitStatus.CONNECTED, state.session.id
        visit.connected_at = now
        room.last_agent_id = agent_id
        await self._repo.add(ChatMessage(session_id=state.session.id, party="client",
                                         body=visit.question, created_at=now))  # fmt: skip
        return Assignment(visit, state)

    # ------------------------------------------------------------ messages

    async def say(self, session: ChatSession, party: str, text: object, *,
                  ref: str | None = None) -> tuple[ChatMessage, bool]:  # fmt: skip
        """Store what a party said; returns the message and whether it is new. ``ref`` (the
        page's own name for the message) makes it idempotent: a page that resends it after
        a reconnect (the first was stored but its echo lost) gets the stored one back, and
        nothing is stored or counted again."""
        body, ref = check_text(text), ref or None
        if ref is not None:
            found = await self._repo.message_by_ref(session.id, party, ref)
            if found is not None:
                return found, False
        if session.status != SessionStatus.OPEN:
            raise SessionEnded("The chat has ended.", session_status=session.status)
        await self._limits.message(session.id, party)
        message = ChatMessage(session_id=session.id, party=party, body=body,
                              created_at=self._clock.now(), ref=ref)  # fmt: skip
        stored = await self._repo.add_message(message)
        return stored, stored is message

    async def messages(self, session_id: str, *, limit: int = 200) -> list[ChatMessage]:
        return list(await self._repo.messages(session_id, limit=limit))

    async def live_sessions(self) -> list[tuple[str, str, str, str]]:
        return list(await self._repo.live_sessions())
