"""Metered sessions: the taxi meter of a chat, and collecting what it shows (docs/design.md §5).

- **Open**: the client accepted the room's terms (the text is stored with the session) and a
  hold of the tariff's pre-authorisation succeeded on the client's card. No hold, no session.
- **Events** (start, pause, resume, presence offline/online per party, hang-up; timeout from
  the worker) are checked against the meter (``pricing.meter.refusal``) and stored with
  when they happened and when we learnt it. The session row keeps a checkpoint derived from
  them (seconds, or the origin while running; the moment it times out while a party is
  offline); ``rebuild`` derives it again from the events.
- **Collections** are planned in one transaction and carried out in the next (``execute``):
  the plan names the payment ids the gateway's idempotency keys derive from, so carrying a
  plan out again after a crash replays the gateway's answers and never charges twice.
  A split collection (the amount due reached the tariff's threshold) places a fresh hold,
  then captures the old one and charges any rest off-session. The final collection (hang-up
  or timeout) captures up to the hold and charges the rest, or cancels the hold when
  nothing is due. ``pricing.collection`` decides the parts.
- **Failure**: a declined part leaves the session ``payment_failed`` with what is still due
  (a failed split collection ends the session: the business does not run up more risk).
  A new card retries the collection of what is due, as often as needed; the agent may
  abandon instead, which records the unpaid amount as abandoned debt in the ledger.

- **Receipt**: when the session is settled (paid, or abandoned), one receipt to the client
  and one notification to the agent list the whole chat (``mail.receipts``); a failed final
  charge sends nothing until it is paid with another card or abandoned.

Statuses: open → collecting → paid; collecting → payment_failed → collecting … | abandoned.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.clients.service import ClientsService
from fareroom.gateway.base import GatewayInvalidRequest, PaymentActionRequired, PaymentDeclined
from fareroom.kit.clock import Clock
from fareroom.kit.errors import Conflict, FareroomError, Forbidden, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.ledger.service import AccountRef, Ledger, business
from fareroom.mail.outbox import Outbox
from fareroom.mail.receipts import ChatSummary, Paid, queue_chat_mails
from fareroom.metering.repository import MeteringRepository
from fareroom.models.business import Business, User
from fareroom.models.metering import (
    SETTLED,
    ChatSession,
    Collection,
    CollectionReason,
    CollectionStatus,
    MeterEventRow,
    SessionStatus,
    TariffRow,
)
from fareroom.payments.service import PaymentSource, PaymentsService
from fareroom.pricing.collection import plan, split_amount
from fareroom.pricing.meter import (
    Controls,
    Kind,
    MeterEvent,
    Reading,
    read_meter,
    refusal,
    seconds_at,
)  # fmt: skip
from fareroom.pricing.tariff import Tariff, make_tariff

# The events an API caller or a page records; a timeout is the worker's to record.
API_KINDS = ("start", "pause", "resume", "offline", "online", "hangup")
_FORBIDDEN = {"start_not_allowed", "pause_not_allowed"}
_INVALID = {"event_in_future", "event_before_session", "invalid_party"}


class SessionNotFound(NotFound):
    code = "session_not_found"


class SessionEnded(Conflict):
    code = "session_ended"


class InvalidEvent(ValidationFailed):
    code = "invalid_event"


@dataclass(frozen=True)
class Seat:
    """Where a session is opened, as the chat decided it: the room, its agent, the tariff
    the agent charges by there, the room's meter controls and terms."""

    room_id: str
    agent_id: str
    tariff_id: str
    controls: Controls
    terms: str


@dataclass(frozen=True)
class AroundSession:
    """What a chat's receipt tells of the chat around its session: the room's name, the
    agent, and each payment request paid in it (what, payment id, when)."""

    room_name: str
    agent: User | None
    requests: list[tuple[str, str, datetime | None]]


# The chat's side of a receipt (rooms, agents and payment requests are the chat's, and
# metering never imports chat): given the business and the session.
Surroundings = Callable[[str, ChatSession], Awaitable[AroundSession]]


def as_tariff(row: TariffRow | Any) -> Tariff:
    """A tariff from its row (or any row with its columns)."""
    return Tariff(currency=row.currency, free_minutes=row.free_minutes,
                  block_minutes=row.block_minutes, block_price=row.block_price,
                  increment_seconds=row.increment_seconds, split_threshold=row.split_threshold,
                  preauth_amount=row.preauth_amount)  # fmt: skip


@dataclass(frozen=True)
class LiveState:
    session: ChatSession
    tariff: Tariff
    seconds: int
    price: int
    due: int
    next_change_in: int | None
    pending: bool
    offline: tuple[str, ...] = ()  # the parties offline now
    failure: str | None = None  # why the last collection failed, while payment_failed
    offline_since: datetime | None = None  # since when the first party offline now is
    at: datetime | None = None  # when this state was read

    @property
    def ends_in(self) -> int | None:
        """Seconds until the presence timeout ends the session, while a party is offline."""
        end, at = self.session.timeout_at, self.at
        if end is None or at is None or self.session.status != SessionStatus.OPEN:
            return None
        return max(0, math.ceil((end - at).total_seconds()))

    @property
    def offline_for(self) -> int | None:
        if self.offline_since is None or self.at is None:
            return None
        return max(0, int((self.at - self.offline_since).total_seconds()))


def live_seconds(s: ChatSession, now: datetime) -> int:
    """Chargeable seconds from the session's checkpoint."""
    running = s.meter_origin if s.status == SessionStatus.OPEN else None
    return seconds_at(s.meter_seconds, running, now)


def _controls(s: ChatSession) -> Controls:
    return Controls(s.agent_may_start, s.agent_may_pause)


def _error(code: str, message: str) -> FareroomError:
    if code in _FORBIDDEN:
        return Forbidden(message, code=code)
    if code in _INVALID:
        return ValidationFailed(message, code=code)
    return Conflict(message, code=code)


class MeteringService:
    def __init__(
        self, session: AsyncSession, clock: Clock, clients: ClientsService,
        payments: PaymentsService, ledger: Ledger, *, timeout: timedelta,
        surroundings: Surroundings,
    ) -> None:  # fmt: skip
        self._repo = MeteringRepository(session)
        self._clock = clock
        self._surroundings = surroundings
        self._clients = clients
        self._payments = payments
        self._ledger = ledger
        self._timeout = timeout
        self._outbox = Outbox(session, clock)

    # ------------------------------------------------------------ tariffs

    async def tariff(self, tariff_id: str) -> Tariff:
        row = await self._repo.tariff(tariff_id)
        if row is None:
            raise NotFound("No such tariff.", code="tariff_not_found")
        return as_tariff(row)

    async def new_tariff(self, biz: Business, fields: dict[str, Any]) -> tuple[str, Tariff]:
        """A new tariff row of the business (rows are never changed); its id and tariff."""
        tariff = make_tariff(**{"currency": biz.default_currency, **fields})
        if tariff.currency != biz.default_currency:
            raise ValidationFailed(f"This business charges in {biz.default_currency}.",
                                   code="currency_mismatch")  # fmt: skip
        row = TariffRow(id=new_id("trf"), business_id=biz.id, currency=tariff.currency,
                        free_minutes=tariff.free_minutes, block_minutes=tariff.block_minutes,
                        block_price=tariff.block_price, increment_seconds=tariff.increment_seconds,
                        split_threshold=tariff.split_threshold,
                        preauth_amount=tariff.preauth_amount,
                        created_at=self._clock.now())  # fmt: skip
        await self._repo.add(row)
        return row.id, tariff

    # ------------------------------------------------------------ reading

    async def session(self, business_id: str | None, session_id: str, *, lock: bool = False
                      ) -> ChatSession:  # fmt: skip
        """The session (``business_id`` None: the worker, any business); another
        business's is as unknown as a missing one."""
        found = await self._repo.chat_session(business_id, session_id, lock=lock)
        if found is None:
            raise SessionNotFound(f"No chat session {session_id!r} in this business.")
        return found

    async def agent_sessions(self, business_id: str, agent_id: str, *, limit: int
                             ) -> list[ChatSession]:  # fmt: skip
        """The agent's sessions that still need them (open, collecting, failed) first,
        then the latest others."""
        return list(await self._repo.agent_sessions(business_id, agent_id, limit=limit))

    async def busy_agents(self, agent_ids: Sequence[str]) -> set[str]:
        """Agents among ``agent_ids`` with an open session."""
        return await self._repo.busy_agents(agent_ids)

    async def last_ended(self, agent_ids: Sequence[str]) -> dict[str, datetime]:
        """When each agent's latest session ended."""
        return await self._repo.last_ended(agent_ids)

    async def unsettled(self, session_id: str) -> bool:
        """True if the session is not yet paid or abandoned; its row is locked, so it
        cannot be settled before this transaction ends."""
        status = await self._repo.status(session_id, lock=True)
        return status is not None and status not in SETTLED

    async def state(self, business_id: str | None, session_id: str) -> LiveState:
        """The session's live state (``business_id`` None: the worker, any business)."""
        return await self._state(await self.session(business_id, session_id))

    async def _state(self, s: ChatSession) -> LiveState:
        tariff = await self.tariff(s.tariff_id)
        now = self._clock.now()
        seconds = live_seconds(s, now)
        price = s.final_price if s.final_price is not None else tariff.price(seconds)
        change = tariff.seconds_until_change(seconds) if s.status == SessionStatus.OPEN else None
        offline: tuple[str, ...] = ()
        offline_since = None
        # A party is offline whenever the session has a timeout, whether or not the meter
        # runs: before the agent starts it, the meter reads "waiting", yet the agent must
        # be told that the client went (and the session still ends at the timeout).
        if s.status == SessionStatus.OPEN and s.timeout_at is not None:
            reading = read_meter(s.opened_at, await self._events(s.id), _controls(s), at=now)
            offline, offline_since = tuple(sorted(reading.offline)), reading.offline_since
        failure = None
        if s.status == SessionStatus.PAYMENT_FAILED:
            failure = next((c.failure for c in reversed(await self._repo.collections(s.id))
                            if c.status == CollectionStatus.FAILED), None)  # fmt: skip
        return LiveState(s, tariff, seconds, price, price - s.collected - s.abandoned,
                         change if s.meter_state == "running" else None,
                         await self._repo.pending_collection(s.id) is not None,
                         offline, failure, offline_since, now)  # fmt: skip

    async def sessions(self, business_id: str, *, limit: int = 50,
                       status: SessionStatus | None = None
                       ) -> list[LiveState]:  # fmt: skip
        found = await self._repo.chat_sessions(business_id, limit=limit, status=status)
        return [await self._state(s) for s in found]

    async def events(self, business_id: str, session_id: str) -> Sequence[MeterEventRow]:
        await self.session(business_id, session_id)
        return await self._repo.events(session_id)

    async def collections(self, business_id: str, session_id: str) -> Sequence[Collection]:
        await self.session(business_id, session_id)
        return await self._repo.collections(session_id)

    # ------------------------------------------------------------ opening

    async def open(
        self, biz: Business, seat: Seat, *, client_id: str, card_id: str | None,
        accepted_terms: bool, session_id: str | None = None,
        hold_payment_id: str | None = None, terms: str | None = None,
        accepted_at: datetime | None = None, live: bool = False,
    ) -> LiveState:  # fmt: skip
        """Open a session at ``seat``. The hold is placed here, or was placed before
        (``hold_payment_id``: a client who waited for an agent), with the ``terms`` the
        client accepted then."""
        if accepted_terms is not True:
            raise ValidationFailed("The client must accept the room's terms first.",
                                   code="terms_not_accepted")  # fmt: skip
        client = await self._clients.get(biz.id, client_id)
        tariff = await self.tariff(seat.tariff_id)
        session_id = session_id or new_id("cs")
        source = PaymentSource(session_id, seat.room_id, seat.agent_id)
        if hold_payment_id is None:
            # The hold comes first: if it is declined, nothing is written (no card, no session).
            hold = await self._payments.charge(
                biz, client_id=client.id, card_id=card_id, amount=tariff.preauth_amount,
                currency=tariff.currency, category="service", capture=False,
                description=f"Hold for chat session {session_id}",
                payment_id=f"pay_{session_id}_h", source=source)  # fmt: skip
        else:
            hold = (await self._payments.get(biz.id, hold_payment_id)).payment
            if hold.client_id != client.id or hold.status != "requires_capture":
                raise Conflict("The client's hold is no longer in place.", code="hold_missing")
            await self._payments.attribute(biz.id, hold_payment_id, source)
        now = self._clock.now()
        reading = read_meter(now, [], seat.controls, at=now)
        s = ChatSession(
            id=session_id, business_id=biz.id, room_id=seat.room_id, agent_id=seat.agent_id,
            client_id=client.id, card_id=hold.card_id, tariff_id=seat.tariff_id,
            agent_may_start=seat.controls.agent_may_start,
            agent_may_pause=seat.controls.agent_may_pause,
            terms=terms or seat.terms, terms_accepted_at=accepted_at or now, opened_at=now,
            status=SessionStatus.OPEN,
            hold_payment_id=hold.id, collected=0, abandoned=0, meter_seconds=0,
            meter_origin=None, meter_state="waiting", live=live, updated_at=now,
        )  # fmt: skip
        self._checkpoint(s, reading, now)
        await self._repo.add(s)
        return await self._state(s)

    async def _events(self, session_id: str) -> list[MeterEvent]:
        return [MeterEvent(Kind(e.kind), e.event_at, e.party)
                for e in await self._repo.events(session_id)]  # fmt: skip

    def _checkpoint(self, s: ChatSession, reading: Reading, now: datetime) -> None:
        s.meter_seconds = reading.seconds
        s.meter_origin = reading.origin
        s.meter_state = reading.state
        s.timeout_at = reading.offline_since + self._timeout if reading.offline_since else None
        s.updated_at = now

    async def _append(
        self, s: ChatSession, events: list[MeterEvent], event: MeterEvent, now: datetime
    ) -> Reading:
        """Store ``event`` and move the checkpoint to what the events now read."""
        await self._repo.add(MeterEventRow(session_id=s.id, kind=event.kind.value,
                                           party=event.party, event_at=event.at,
                                           created_at=now))  # fmt: skip
        reading = read_meter(s.opened_at, [*events, event], _controls(s), at=now)
        self._checkpoint(s, reading, now)
        return reading

    async def _stop(self, s: ChatSession, kind: Kind, at: datetime, reason: str) -> None:
        """End the session on our side (a timeout, a failed split collection), dated no
        earlier than its last event, and plan the final collection."""
        events = await self._events(s.id)
        last = max((e.at for e in events), default=s.opened_at)
        reading = await self._append(s, events, MeterEvent(kind, max(at, last)),
                                     self._clock.now())  # fmt: skip
        await self._end(s, reading, reason)

    # ------------------------------------------------------------ events

    async def record(
        self,
        business_id: str | None,
        session_id: str,
        kind: str,
        *,
        party: str | None = None,
        at: datetime | None = None,
    ) -> LiveState:
        """Record one meter event (``business_id`` None: the worker, for any business)."""
        s = await self.session(business_id, session_id, lock=True)
        now = self._clock.now()
        if s.status != SessionStatus.OPEN:
            raise SessionEnded("The session has ended; nothing more can happen on its meter.",
                               session_status=s.status)  # fmt: skip
        if kind not in API_KINDS:  # a timeout is the worker's to record
            raise InvalidEvent(f"'kind' is one of {', '.join(API_KINDS)}.")
        event = MeterEvent(Kind(kind), at or now, party)
        if event.at.tzinfo is None:
            raise InvalidEvent("'at' needs a time zone (e.g. 2026-11-21T10:00:00Z).")
        controls = _controls(s)
        events = await self._events(s.id)
        reading = read_meter(s.opened_at, events, controls, at=now)
        refused = refusal(reading, event, controls, opened_at=s.opened_at, now=now)
        if refused:
            raise _error(*refused)
        if (kind == Kind.WENT_OFFLINE and party in reading.offline) or (
            kind == Kind.CAME_ONLINE and party not in reading.offline
        ):
            return await self._state(s)  # presence that changes nothing: nothing to record
        reading = await self._append(s, events, event, now)
        if reading.state == "ended":
            await self._end(s, reading, reading.end_reason or kind)
        else:
            await self.plan_split(s)
        return await self._state(s)

    async def presence(self, business_id: str | None, session_id: str, party: str, *,
                       online: bool, at: datetime) -> bool:  # fmt: skip
        """A page's party went (``online`` False) or came back at ``at``, dated no earlier
        than the session's opening; True if it was recorded. Nothing is recorded for a
        session no longer open, nor for a party already offline (or online)."""
        s = await self.session(business_id, session_id, lock=True)
        if s.status != SessionStatus.OPEN:
            return False
        reading = read_meter(s.opened_at, await self._events(s.id), _controls(s),
                             at=self._clock.now())  # fmt: skip
        if (party in reading.offline) != online:
            return False
        kind = Kind.CAME_ONLINE if online else Kind.WENT_OFFLINE
        await self.record(business_id, session_id, kind, party=party, at=max(at, s.opened_at))
        return True

    async def rebuild(self, session_id: str) -> bool:
        """Derive the session's checkpoint again from its events; True if it was wrong."""
        s = await self.session(None, session_id, lock=True)
        if s.status != SessionStatus.OPEN:
            return False

        def checkpoint() -> tuple[object, ...]:  # seconds only count while not running
            return (s.meter_seconds if s.meter_origin is None else None, s.meter_origin,
                    s.meter_state, s.timeout_at)  # fmt: skip

        before, now = checkpoint(), self._clock.now()
        self._checkpoint(s, read_meter(s.opened_at, await self._events(s.id), _controls(s),
                                       at=now), now)  # fmt: skip
        return checkpoint() != before

    async def time_out(self, session_id: str) -> bool:
        """End a session whose party has been offline too long (the worker's sweep)."""
        s = await self.session(None, session_id, lock=True)
        now = self._clock.now()
        if s.status != SessionStatus.OPEN or s.timeout_at is None or s.timeout_at >= now:
            return False
        await self._stop(s, Kind.TIMED_OUT, s.timeout_at, "timeout")
        return True

    # ------------------------------------------------------------ collections

    async def _end(self, s: ChatSession, reading: Reading, reason: str) -> None:
        tariff = await self.tariff(s.tariff_id)
        s.status = SessionStatus.COLLECTING
        s.end_reason = s.end_reason or reason
        s.ended_at = reading.ended_at or self._clock.now()
        s.timeout_at = None
        s.final_price = tariff.price(reading.seconds)
        # A collection still pending (its process died, or the gateway was unreachable)
        # changes what is collected and which hold is left: the final one is planned when
        # it is done (``execute``), not now over what it will capture.
        if await self._repo.pending_collection(s.id) is None:
            await self._plan(s, s.final_price - s.collected, reason=CollectionReason.FINAL)

    async def _hold_amount(self, s: ChatSession) -> int:
        if s.hold_payment_id is None:
            return 0
        hold = (await self._payments.get(s.business_id, s.hold_payment_id)).payment
        return hold.amount if hold.status == "requires_capture" else 0

    async def _plan(self, s: ChatSession, amount: int, *, reason: CollectionReason
                    ) -> Collection | None:  # fmt: skip
        held = await self._hold_amount(s)
        parts = plan(amount, held)
        split = reason == CollectionReason.SPLIT
        if not split and amount == 0 and not held:
            s.status = SessionStatus.PAID
            await self._receipt(s)
            return None
        uses_hold = held > 0 and (parts.capture > 0 or not split)
        coll = Collection(
            id=new_id("col"), business_id=s.business_id, session_id=s.id, reason=reason,
            amount=amount, card_id=s.card_id,
            capture_payment_id=s.hold_payment_id if held and parts.capture else None,
            capture_amount=parts.capture,
            cancel_payment_id=s.hold_payment_id if held and not parts.capture and uses_hold
            else None,
            charge_payment_id=new_id("pay") if parts.charge else None,
            charge_amount=parts.charge,
            new_hold_payment_id=new_id("pay") if split and uses_hold else None,
            status=CollectionStatus.PENDING, created_at=self._clock.now(),
        )  # fmt: skip
        await self._repo.add(coll)
        return coll

    async def plan_split(self, s: ChatSession) -> Collection | None:
        """Plan a split collection if what is due reached the threshold (none pending)."""
        if s.status != SessionStatus.OPEN or await self._repo.pending_collection(s.id):
            return None
        tariff = await self.tariff(s.tariff_id)
        due = tariff.price(live_seconds(s, self._clock.now())) - s.collected
        amount = split_amount(due, tariff.split_threshold)
        return await self._plan(s, amount, reason=CollectionReason.SPLIT) if amount else None

    async def split_if_due(self, session_id: str) -> bool:
        s = await self.session(None, session_id, lock=True)
        return await self.plan_split(s) is not None

    async def pending_collection(self, session_id: str) -> tuple[str, str] | None:
        return await self._repo.pending_collection(session_id)

    async def execute(self, collection_id: str) -> str:
        """Carry out a planned collection; returns its status. Declines are recorded; a
        gateway that cannot be reached raises, leaving the plan pending (retried later)."""
        coll = await self._repo.collection(collection_id)
        if coll is None:
            raise NotFound("No such collection.", code="collection_not_found")
        s = await self.session(None, coll.session_id, lock=True)
        coll = await self._repo.collection(collection_id, lock=True)
        if coll is None or coll.status != CollectionStatus.PENDING:
            return coll.status if coll else "missing"
        biz = await self._payments.business(s.business_id)
        tariff = await self.tariff(s.tariff_id)
        source = PaymentSource(s.id, s.room_id, s.agent_id)
        done, new_hold, old_gone = 0, False, False
        try:
            if coll.new_hold_payment_id:
                await self._payments.charge(
                    biz, amount=tariff.preauth_amount, capture=False,
                    description=f"Hold for chat session {s.id}",
                    payment_id=coll.new_hold_payment_id, client_id=s.client_id,
                    card_id=coll.card_id, currency=tariff.currency, category="service",
                    off_session=True, source=source)  # fmt: skip
                new_hold = True
            if coll.capture_payment_id:
                # The gateway's webhook may have recorded the capture already (a collection
                # carried out again after a crash): then it is done, not done twice.
                hold = (await self._payments.get(biz.id, coll.capture_payment_id)).payment
                if hold.status == "requires_capture":
                    hold = await self._payments.capture(biz, hold.id, amount=coll.capture_amount)
                done, old_gone = hold.amount_captured, True
            if coll.cancel_payment_id:
                hold = (await self._payments.get(biz.id, coll.cancel_payment_id)).payment
                if hold.status == "requires_capture":
                    await self._payments.cancel(biz, hold.id)
                old_gone = True
            if coll.charge_payment_id:
                await self._payments.charge(
                    biz, amount=coll.charge_amount, capture=True,
                    description=f"Chat session {s.id}", payment_id=coll.charge_payment_id,
                    client_id=s.client_id, card_id=coll.card_id, currency=tariff.currency,
                    category="service", off_session=True, source=source)  # fmt: skip
                done += coll.charge_amount
        except (PaymentDeclined, PaymentActionRequired, GatewayInvalidRequest) as exc:
            coll.failure = exc.message[:300]
        now = self._clock.now()
        coll.finished_at = now
        s.collected += done
        if old_gone:
            s.hold_payment_id = None
        if new_hold and coll.new_hold_payment_id:
            if s.hold_payment_id is None:
                s.hold_payment_id = coll.new_hold_payment_id
            else:  # the old hold could not be captured: keep one hold, not two
                await self._payments.cancel(biz, coll.new_hold_payment_id)
        if coll.failure is None:
            coll.status = CollectionStatus.SUCCEEDED
            if s.status != SessionStatus.OPEN and coll.reason == CollectionReason.SPLIT:
                # the chat ended meanwhile: its final collection is what is left
                await self._plan(s, (s.final_price or 0) - s.collected,
                                 reason=CollectionReason.FINAL)  # fmt: skip
            elif s.status != SessionStatus.OPEN:
                s.status = SessionStatus.PAID
                await self._receipt(s)
            return coll.status
        coll.status = CollectionStatus.FAILED
        if s.status == SessionStatus.OPEN:  # a failed split collection ends the session
            await self._stop(s, Kind.HUNG_UP, now, "payment_failed")
        else:
            s.status = SessionStatus.PAYMENT_FAILED
        return coll.status

    async def _receipt(self, s: ChatSession) -> None:
        """The session is settled (paid, or abandoned): the chat's one receipt and the
        agent's notification, listing every payment the chat took (written once)."""
        biz = await self._payments.business(s.business_id)
        collections, seen = [], set[str]()
        for coll in await self._repo.collections(s.id):
            if paid := await self._collected(biz, s, coll, seen):
                collections.append(paid)
        around = await self._surroundings(biz.id, s)
        requests = [await self._paid(biz, s, what, [payment_id], paid_at)
                    for what, payment_id, paid_at in around.requests]  # fmt: skip
        await queue_chat_mails(self._outbox, ChatSummary(
            session_id=s.id, business_name=biz.name, room_name=around.room_name,
            agent=around.agent, client=await self._clients.get(biz.id, s.client_id),
            currency=(await self.tariff(s.tariff_id)).currency, opened_at=s.opened_at,
            ended_at=s.ended_at, end_reason=s.end_reason, chargeable_seconds=s.meter_seconds,
            collections=collections,
            requests=requests, abandoned=s.abandoned))  # fmt: skip

    async def _collected(self, biz: Business, s: ChatSession, coll: Collection, seen: set[str]
                         ) -> Paid | None:  # fmt: skip
        """What a collection took: the hold it captured (even if its charge then failed)
        and its charge (the last step, made only if the collection succeeded). A hold
        whose capture failed is captured by a later collection: listed once (``seen``)."""
        charged = coll.charge_payment_id if coll.status == CollectionStatus.SUCCEEDED else None
        ids = [i for i in (coll.capture_payment_id, charged) if i and i not in seen]
        seen.update(ids)
        paid = await self._paid(biz, s, "chat time", ids, coll.finished_at)
        return paid if paid.total() else None

    async def _paid(self, biz: Business, s: ChatSession, what: str, payment_ids: list[str],
                    at: datetime | None) -> Paid:  # fmt: skip
        payments = [(await self._payments.get(biz.id, i)).payment for i in payment_ids]
        payments = [p for p in payments if p.amount_captured]
        cards = [await self._clients.card_label(biz.id, s.client_id, c)
                 for c in dict.fromkeys(p.card_id for p in payments)]  # fmt: skip
        return Paid(what, payments, at or self._clock.now(), " and ".join(cards))

    # ------------------------------------------------------------ after a failed payment

    async def change_card(self, biz: Business, session_id: str, card_id: str) -> LiveState:
        """The card the session's next charges go to; after a failed payment, the
        collection of what is due is tried again with it."""
        s = await self.session(biz.id, session_id, lock=True)
        if s.status in SETTLED:
            raise Conflict(f"The session is {s.status}; nothing is due.",
                           code="session_settled", session_status=s.status)  # fmt: skip
        if s.status == SessionStatus.COLLECTING or await self._repo.pending_collection(s.id):
            raise Conflict("A collection is under way; try again in a moment.",
                           code="collection_in_progress")  # fmt: skip
        card = await self._clients.card(biz.id, s.client_id, card_id)
        s.card_id = card.id
        if s.status == SessionStatus.PAYMENT_FAILED:
            s.status = SessionStatus.COLLECTING
            await self._plan(s, (s.final_price or 0) - s.collected, reason=CollectionReason.RETRY)
        return await self._state(s)

    async def abandon(self, biz: Business, session_id: str) -> LiveState:
        """The agent hangs up anyway: the unpaid amount becomes abandoned debt."""
        s = await self.session(biz.id, session_id, lock=True)
        if s.status != SessionStatus.PAYMENT_FAILED:
            raise Conflict("Only a session whose payment failed can be abandoned.",
                           code="session_not_failed", session_status=s.status)  # fmt: skip
        unpaid = (s.final_price or 0) - s.collected
        if s.hold_payment_id and await self._hold_amount(s):
            await self._payments.cancel(biz, s.hold_payment_id)
            s.hold_payment_id = None
        currency = (await self.tariff(s.tariff_id)).currency
        await self._ledger.post(
            kind="debt_abandoned", reference=s.id, currency=currency, business_id=biz.id,
            legs=[(AccountRef("client_receivable", currency, biz.id, s.client_id), unpaid),
                  (business("abandoned_debt", currency, biz.id), -unpaid)],
        )  # fmt: skip
        s.abandoned = unpaid
        s.status = SessionStatus.ABANDONED
        s.updated_at = self._clock.now()
        await self._receipt(s)
        return await self._state(s)
