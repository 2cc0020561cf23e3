"""Paid meetings: the settings, the occurrences and their seats, registering and paying,
refunds by policy or by hand, no-shows, and the codes at the door (docs/paid-meetings.md).

Rules kept here:

- Seats are taken when a registration is made, before any card is charged, under the lock
  of the occurrence rows (locked in the order of their starts): a full occurrence refuses
  the registration, and nothing is charged.
- A registration's payment id is derived from it and its attempt (``pay_<reg>_<n>``), and so
  is the gateway's idempotency key (``payment:<payment id>:create``): a double submit, a
  retry after a lost answer or a reload pays attempt *n* once. Only a refused card ends an
  attempt (its seats are given back, the next try takes them again).
- Every movement of money goes through ``PaymentsService`` (charge, hold, capture, cancel,
  refund), which posts the ledger in the same transaction.
- A registrant's token (``<registration id>.<secret>``) proves the registration is theirs:
  only its SHA-256 is kept.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.service import sha256
from fareroom.clients.service import ClientsService
from fareroom.gateway.base import (
    GatewayError,
    GatewayInvalidRequest,
    IdempotencyKeyInUse,
    PaymentActionRequired,
    PaymentDeclined,
    as_fareroom_error,
)
from fareroom.kit.clock import Clock
from fareroom.kit.errors import FareroomError, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import (
    MAX_CHARGE_MINOR,
    MIN_CHARGE_MINOR,
    CurrencyMismatch,
    Money,
    normalise_currency,
    round_half_up,
)
from fareroom.kit.ratelimit import Limit, RateLimiter, check_all
from fareroom.mail.outbox import Outbox
from fareroom.meetings.service import MeetingsService, display_code, new_code, normal_code
from fareroom.models.business import Business, ConnectStatus, User
from fareroom.models.mail import MailKind
from fareroom.models.meeting import MeetingRoom, RoomKind
from fareroom.models.payment import Payment, PaymentStatus
from fareroom.models.registration import (
    SEATED,
    MeetingCode,
    Notification,
    Occurrence,
    PaidMeeting,
    Pricing,
    RefundRule,
    Registration,
    RegistrationItem,
    RegistrationStatus,
)
from fareroom.payments.service import PaymentsService, check_amount
from fareroom.registrations.errors import (
    BadToken,
    CodeInvalid,
    CodeNotNow,
    CodeRequired,
    CodeRevoked,
    ConnectRequired,
    NotRefundable,
    OccurrenceNotFound,
    PaidMeetingNotFound,
    RegistrationClosed,
    RegistrationNotFound,
    SoldOut,
    TermsRequired,
)
from fareroom.registrations.repository import RegistrationsRepository

HORIZON = timedelta(days=400)  # occurrences written down ahead
MAX_OCCURRENCES = 200
HOLD_WINDOW = timedelta(days=6)  # a hold lapses after ~7 days at the gateway
PENDING_FOR = timedelta(minutes=30)  # an unpaid registration keeps its seats this long
FINISH_AFTER = timedelta(minutes=2)  # a half-paid attempt left this long is the worker's
MAX_SEATS = 10_000
MAX_PICK = 50  # occurrences one registration may pick
ADMIT_BEFORE = timedelta(minutes=30)  # an occurrence's code admits from this before its start


@dataclass(frozen=True)
class RegistrationLimits:
    """Registrations made, and payments tried, per address (the form is public)."""

    limiter: RateLimiter
    registrations: Limit
    payments: Limit
    wrong_codes: Limit  # per room and address, as wrong meeting passwords


@dataclass(frozen=True)
class PaidSettings:
    price: int
    currency: str
    pricing: Pricing
    seats: int
    closes_minutes: int = 0
    refund_rule: RefundRule = RefundRule.ALWAYS
    refund_window_minutes: int = 0
    refund_percent: int = 100
    no_show_hold: bool = False
    notify_email: bool = False
    open: bool = True


@dataclass(frozen=True)
class OccurrenceView:
    occurrence: Occurrence
    seats_left: int
    open: bool  # taking registrations now
    why_closed: str | None = None


@dataclass(frozen=True)
class PaidView:
    paid: PaidMeeting
    room: MeetingRoom
    occurrences: list[OccurrenceView]
    most_in_meeting: int  # people one meeting holds at once here (its host among them)

    @property
    def warning(self) -> str | None:
        """Seats beyond what one meeting holds are sold, but not all can be in at once."""
        if self.paid.seats + 1 <= self.most_in_meeting:
            return None
        return (
            f"{self.paid.seats} seats, but a meeting here holds {self.most_in_meeting} "
            "people at once with its host: registrants past that find it full."
        )


@dataclass
class RegistrationView:
    registration: Registration
    items: list[RegistrationItem]
    codes: list[MeetingCode] = field(default_factory=list)
    token: str | None = None  # only when it was just made
    failure: FareroomError | None = None  # the card was refused (committed, then raised)
    ready: bool = False  # paying: step one done, step two charges
    refunded: int = 0  # of its payment, so far


def refund_of(paid: PaidMeeting, seats: Sequence[tuple[int, datetime]], *, now: datetime) -> int:
    """What the refund policy gives back for cancelling, at ``now``, seats of these (amount,
    start): the amounts of those far enough ahead, times the percentage, rounded half up
    once."""
    if paid.refund_rule == RefundRule.ALWAYS:
        return sum(amount for amount, _ in seats)
    if paid.refund_rule == RefundRule.NEVER:
        return 0
    window = timedelta(minutes=paid.refund_window_minutes)
    inside = sum(amount for amount, at in seats if at - now >= window)
    return round_half_up(Fraction(inside * paid.refund_percent, 100))


def _item_refund_id(reg: Registration, occurrence_id: str) -> str:
    """One seat's refund, whoever gives it (the registrant cancelling, the host cancelling
    the meeting): asked twice, the gateway refunds it once."""
    return f"re_{sha256(f'{reg.id}:{occurrence_id}')[:32]}"


class RegistrationsService:
    def __init__(self, session: AsyncSession, clock: Clock, *, meetings: MeetingsService,
                 clients: ClientsService, payments: PaymentsService,
                 limits: RegistrationLimits, base_url: str) -> None:  # fmt: skip
        self._limits = limits
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._repo = RegistrationsRepository(session)
        self._clock = clock
        self._meetings = meetings
        self._clients = clients
        self._payments = payments

    # ------------------------------------------------------------------ settings

    async def make_paid(self, biz: Business, room_id: str, settings: PaidSettings, *,
                        by: User | None = None) -> PaidView:  # fmt: skip
        """Make a scheduled room paid, or change its paid settings."""
        room = (await self._meetings.view(biz.id, room_id)).room
        self._meetings.check_may_change(by, room)
        if biz.connect_status != ConnectStatus.ENABLED or not biz.gateway_account_id:
            raise ConnectRequired()
        settings = replace(settings, currency=normalise_currency(settings.currency))
        self._check(biz, room, settings)
        now = self._clock.now()
        paid = await self._repo.paid_for_room(room.id)
        if paid is None:
            paid = PaidMeeting(id=new_id("pm"), business_id=biz.id, room_id=room.id,
                               code=await self._unique_code(), created_at=now)  # fmt: skip
            self._session.add(paid)
        elif await self._repo.booked(paid.id):
            self._check_change(paid, settings)
        for name in PaidSettings.__dataclass_fields__:
            setattr(paid, name, getattr(settings, name))
        paid.updated_at = now
        await self._session.flush()
        return await self._view(paid, room)

    def _check(self, biz: Business, room: MeetingRoom, st: PaidSettings) -> None:
        if room.kind != RoomKind.SCHEDULED or room.starts_at is None:
            raise ValidationFailed("Only a scheduled room (a start, and maybe a recurrence) can "
                                   "be paid: registrants pay for its times.",
                                   code="room_not_scheduled")  # fmt: skip
        currency = normalise_currency(st.currency)
        if currency != biz.default_currency:
            raise CurrencyMismatch(f"This business charges in {biz.default_currency}, "
                                   f"not {currency}.")  # fmt: skip
        check_amount(st.price, field="price", minimum=MIN_CHARGE_MINOR)
        if room.rrule is None and st.pricing != Pricing.SINGLE:
            raise ValidationFailed("A room without a recurrence has one meeting: its pricing "
                                   "is 'single'.", code="invalid_pricing")  # fmt: skip
        if room.rrule is not None and st.pricing == Pricing.SINGLE:
            raise ValidationFailed("A recurring room is priced 'per_occurrence' or "
                                   "'per_series'.", code="invalid_pricing")  # fmt: skip
        if not 1 <= st.seats <= MAX_SEATS:
            raise ValidationFailed(f"A meeting takes 1 to {MAX_SEATS} registrants.",
                                   code="invalid_seats")  # fmt: skip
        if not 0 <= st.closes_minutes <= 60 * 24 * 60:
            raise ValidationFailed("Registration closes 0 to 86 400 minutes (60 days) before "
                                   "the start.", code="invalid_closes")  # fmt: skip
        if st.refund_rule == RefundRule.WINDOW and (
            not 1 <= st.refund_percent <= 100 or not 1 <= st.refund_window_minutes <= 525_600
        ):
            raise ValidationFailed("A refund window is 1 minute to 365 days before the start, "
                                   "and gives back 1 to 100 % of what was paid.",
                                   code="invalid_refund_policy")  # fmt: skip
        if st.no_show_hold and st.pricing == Pricing.PER_SERIES:
            raise ValidationFailed("A card hold lapses after about 7 days, so a no-show fee is "
                                   "for single meetings or per-occurrence series, not for a "
                                   "whole series.", code="invalid_pricing")  # fmt: skip
        if st.pricing == Pricing.PER_SERIES:
            rule = room.rrule or ""
            assert room.starts_at is not None and room.time_zone is not None
            starts = MeetingsService.occurrences(room.starts_at, room.time_zone, rule,
                                                 count=MAX_OCCURRENCES + 1)  # fmt: skip
            horizon = self._clock.now() + HORIZON
            if ("COUNT=" not in rule and "UNTIL=" not in rule) or len(starts) > MAX_OCCURRENCES \
                    or (starts and starts[-1] > horizon):  # fmt: skip
                raise ValidationFailed(f"A series priced as a whole must end: at most "
                                       f"{MAX_OCCURRENCES} meetings, the last within 400 days.",
                                       code="series_without_end")  # fmt: skip

    def _check_change(self, paid: PaidMeeting, st: PaidSettings) -> None:
        """Once someone booked, what they agreed to stays: the currency, the pricing and the
        hold (a price or a policy changed applies to the registrations to come)."""
        fixed = {"currency": (paid.currency, st.currency), "pricing": (paid.pricing, st.pricing),
                 "no_show_hold": (paid.no_show_hold, st.no_show_hold)}  # fmt: skip
        changed = [name for name, (was, now) in fixed.items() if was != now]
        if changed:
            raise ValidationFailed(f"People registered already, so {', '.join(changed)} "
                                   "stay as they are.", code="settings_locked")  # fmt: skip

    async def _unique_code(self) -> str:
        while True:
            code = new_code()
            if not await self._repo.code_taken(code):
                return code

    async def _sync(self, paid: PaidMeeting, room: MeetingRoom) -> set[datetime]:
        """The occurrence rows as the room's schedule says: the next ones are added, those no
        longer in it that nobody booked are dropped (a booked one stays: the host cancels
        it, which refunds its registrants)."""
        assert room.starts_at is not None and room.time_zone is not None
        now = self._clock.now()
        since = now - timedelta(minutes=room.duration_minutes or 0)
        found = MeetingsService.occurrences(room.starts_at, room.time_zone, room.rrule,
                                            count=MAX_OCCURRENCES, after=since)  # fmt: skip
        starts = [at for at in found if at <= now + HORIZON]
        rows = {o.starts_at: o for o in await self._repo.occurrences(paid.id)}
        extra = {o.id for at, o in rows.items() if at not in starts and at > now}
        if set(starts) <= set(rows) and extra <= await self._repo.booked(paid.id):
            return set(starts)  # nothing to write (the usual case: a page read)
        await self._repo.paid_meeting(paid.business_id, paid.id, lock=True)  # one writer
        rows = {o.starts_at: o for o in await self._repo.occurrences(paid.id)}
        booked = await self._repo.booked(paid.id)
        gone = [o.id for at, o in rows.items() if at not in starts and o.id not in booked
                and at > now]  # fmt: skip
        if gone:
            await self._repo.delete_occurrences(gone)
        for at in starts:
            if at not in rows:
                self._session.add(Occurrence(id=new_id("occ"), paid_meeting_id=paid.id,
                                             starts_at=at, seats_taken=0))  # fmt: skip
        await self._session.flush()
        return set(starts)

    async def _view(self, paid: PaidMeeting, room: MeetingRoom) -> PaidView:
        """The meeting and its occurrences, brought up to date with the room's schedule
        first (a host may have moved it since)."""
        scheduled = None
        if room.starts_at is not None and room.time_zone is not None:
            scheduled = await self._sync(paid, room)
        now = self._clock.now()
        views = [self._occurrence_view(paid, room, o, now, scheduled)
                 for o in await self._repo.occurrences(paid.id)]  # fmt: skip
        length = timedelta(minutes=room.duration_minutes or 0)
        return PaidView(paid, room, [v for v in views if v.occurrence.starts_at + length > now],
                        self._meetings.max_participants)  # fmt: skip

    def _occurrence_view(self, paid: PaidMeeting, room: MeetingRoom, o: Occurrence,
                         now: datetime, scheduled: set[datetime] | None = None
                         ) -> OccurrenceView:  # fmt: skip
        left = max(paid.seats - o.seats_taken, 0)
        why = None
        if o.cancelled_at is not None:
            why = "cancelled"
        elif scheduled is not None and o.starts_at not in scheduled:
            why = "moved: the room's schedule no longer has it"
        elif not paid.open:
            why = "registration is closed"
        elif now >= o.starts_at - timedelta(minutes=paid.closes_minutes):
            why = "registration has closed"
        elif paid.no_show_hold and o.starts_at - now > HOLD_WINDOW:
            why = "registration opens 6 days before"
        elif left == 0:
            why = "no seat left"
        return OccurrenceView(o, left, why is None, why)

    async def paid_meeting(self, business_id: str, paid_id: str) -> PaidView:
        paid = await self._repo.paid_meeting(business_id, paid_id)
        if paid is None:
            raise PaidMeetingNotFound()
        return await self._view(paid, (await self._meetings.view(business_id, paid.room_id)).room)

    async def for_room(self, business_id: str, room_id: str) -> PaidView | None:
        room = (await self._meetings.view(business_id, room_id)).room
        paid = await self._repo.paid_for_room(room.id)
        return None if paid is None else await self._view(paid, room)

    async def paid_meetings(self, business_id: str, *, limit: int,
                            starting_after: str | None) -> Sequence[PaidMeeting]:  # fmt: skip
        return await self._repo.paid_meetings(business_id, limit=limit,
                                              starting_after=starting_after)  # fmt: skip

    async def page(self, code: str) -> PaidView:
        """The public registration page's meeting (``/r/<code>``)."""
        paid = await self._repo.paid_by_code(code.strip().lower()[:16])
        if paid is None:
            raise PaidMeetingNotFound()
        room = await self._meetings.room_by_id(paid.room_id)
        return await self._view(paid, room)

    # ------------------------------------------------------------------ registering

    async def register(self, code: str, *, name: str, email: str, occurrence_ids: list[str],
                       terms: bool, request_key: str, address: str | None = None
                       ) -> RegistrationView:  # fmt: skip
        """A pending registration holding its seats (see the module's docstring). The same
        ``request_key`` again (the page's own secret: a lost answer, a double submit) is the
        same registration, not another."""
        if not terms:
            raise TermsRequired()
        if not 22 <= len(request_key) <= 64:
            raise ValidationFailed("The page's request key is 22 to 64 characters.",
                                   code="invalid_request_key")  # fmt: skip
        found = await self._repo.paid_by_code(code.strip().lower()[:16], lock=True)
        if found is None:
            raise PaidMeetingNotFound()
        again = await self._repo.registration_by_request(found.id, sha256(request_key))
        if again is not None:
            same = await self.view_of(again)
            same.token = f"{again.id}.{request_key}"
            return same
        view = await self._view(found, await self._meetings.room_by_id(found.room_id))
        await check_all(self._limits.limiter, [(f"registrations:{address or '-'}",
                                                self._limits.registrations)],
                        "Too many registrations from this address.")  # fmt: skip
        paid, room = view.paid, view.room
        biz = await self._payments.business(paid.business_id)
        if biz.connect_status != ConnectStatus.ENABLED:
            raise RegistrationClosed("This meeting cannot take payments now; the business "
                                     "has been told.")  # fmt: skip
        chosen = self._chosen(paid, view, occurrence_ids)
        client = await self._clients.for_email(biz.id, name=name, email=email)
        now = self._clock.now()
        reg_id = new_id("reg")
        token = f"{reg_id}.{request_key}"
        amount = paid.price if paid.pricing == Pricing.PER_SERIES else paid.price * len(chosen)
        if amount > MAX_CHARGE_MINOR:
            raise ValidationFailed("That is more than one payment can be; register for fewer "
                                   "meetings at a time.", code="amount_too_large")  # fmt: skip
        reg = Registration(id=reg_id, business_id=biz.id, paid_meeting_id=paid.id,
                           client_id=client.id, name=client.name if not name.strip() else
                           " ".join(name.split())[:100], email=client.email,
                           status=RegistrationStatus.PENDING, amount=amount,
                           currency=paid.currency, attempt=1, seats_held=True,
                           request_hash=sha256(request_key), token_hash=sha256(token),
                           expires_at=now + PENDING_FOR, created_at=now,
                           updated_at=now)  # fmt: skip
        self._session.add(reg)
        shares = self._shares(paid, amount, len(chosen))
        items = [RegistrationItem(registration_id=reg.id, occurrence_id=o.id, amount=share)
                 for o, share in zip(chosen, shares, strict=True)]  # fmt: skip
        self._session.add_all(items)
        await self._take_seats(paid, room, [o.id for o in chosen])
        return RegistrationView(reg, items, token=token)

    def _chosen(self, paid: PaidMeeting, view: PaidView, ids: list[str]) -> list[Occurrence]:
        upcoming = [v for v in view.occurrences if v.occurrence.cancelled_at is None]
        if paid.pricing == Pricing.PER_SERIES:
            future = [v for v in upcoming if v.occurrence.starts_at > self._clock.now()]
            if not future or len(future) < len(upcoming) or not future[0].open:
                raise RegistrationClosed("Registration for this series has closed: it has "
                                         "begun.")  # fmt: skip
            return [v.occurrence for v in future]
        if paid.pricing == Pricing.SINGLE:
            ids = ids or [v.occurrence.id for v in upcoming][:1]
        if not ids:
            raise ValidationFailed("Pick the meetings you register for.",
                                   code="occurrences_required")  # fmt: skip
        if len(set(ids)) != len(ids) or len(ids) > (1 if paid.no_show_hold else MAX_PICK):
            most = 1 if paid.no_show_hold else MAX_PICK
            raise ValidationFailed(f"Pick 1 to {most} different meetings.",
                                   code="invalid_occurrences")  # fmt: skip
        by_id = {v.occurrence.id: v for v in view.occurrences}
        chosen = []
        for oid in ids:
            v = by_id.get(oid)
            if v is None:
                raise OccurrenceNotFound()
            if not v.open and v.why_closed != "no seat left":
                raise RegistrationClosed(f"The meeting of {self._when(view.room, v.occurrence)}"
                                         f" takes no registration: {v.why_closed}.",
                                         occurrence=oid)  # fmt: skip
            chosen.append(v.occurrence)
        return sorted(chosen, key=lambda o: o.starts_at)

    @staticmethod
    def _shares(paid: PaidMeeting, amount: int, n: int) -> list[int]:
        """Each item's share of the amount (a series' price spread, the rest on the first)."""
        if paid.pricing != Pricing.PER_SERIES:
            return [paid.price] * n
        base = amount // n
        return [amount - base * (n - 1)] + [base] * (n - 1)

    @staticmethod
    def _when(room: MeetingRoom, o: Occurrence) -> str:
        tz = ZoneInfo(room.time_zone or "UTC")
        return f"{o.starts_at.astimezone(tz):%a %d %b %Y %H:%M} ({room.time_zone})"

    async def _take_seats(self, paid: PaidMeeting, room: MeetingRoom, ids: list[str]) -> None:
        """A seat in each of these occurrences, under their locks (taken in the order of
        their starts, after the registration's own, so two writers never wait on each
        other in a circle); what was seen unlocked is checked again."""
        now = self._clock.now()
        for o in await self._repo.occurrences(paid.id, lock=True, ids=ids):
            if (
                o.cancelled_at is not None
                or not paid.open
                or (now >= o.starts_at - timedelta(minutes=paid.closes_minutes))
            ):
                raise RegistrationClosed(f"The meeting of {self._when(room, o)} takes no "
                                         "registration now.", occurrence=o.id)  # fmt: skip
            if o.seats_taken >= paid.seats:
                raise SoldOut(self._when(room, o))
            o.seats_taken += 1
        await self._session.flush()

    async def _give_seats(self, paid: PaidMeeting, ids: list[str]) -> None:
        for o in await self._repo.occurrences(paid.id, lock=True, ids=ids):
            o.seats_taken = max(o.seats_taken - 1, 0)
        await self._session.flush()

    async def _mine(self, registration_id: str, token: str) -> Registration:
        reg = await self._repo.registration_by_id(registration_id, lock=True)
        if reg is None:
            raise RegistrationNotFound()
        if not hmac.compare_digest(reg.token_hash.encode(), sha256(token).encode()):
            raise BadToken()
        return reg

    async def pay_prepare(self, registration_id: str, token: str, *, card_token: str,
                          address: str | None = None) -> RegistrationView:  # fmt: skip
        """Paying, step one, in a transaction of its own: the seats (taken again after a
        refused card) and the card attempt *n* charges, both committed before any charge is
        asked for. ``ready``: step two (``pay_charge``) has something to charge; else the
        registration is settled already (a double submit) or ``failure`` says why not (the
        caller commits, then raises it)."""
        reg = await self._mine(registration_id, token)
        if reg.status == RegistrationStatus.PENDING and reg.expires_at <= self._clock.now():
            await self._expire(reg)
        if reg.status == RegistrationStatus.CANCELLED:
            raise RegistrationClosed("This registration was cancelled; register again.",
                                     code="registration_cancelled")  # fmt: skip
        if reg.status == RegistrationStatus.EXPIRED:
            raise RegistrationClosed("This registration expired before it was paid; register "
                                     "again.", code="registration_expired")  # fmt: skip
        if reg.status != RegistrationStatus.PENDING or reg.payment_id is not None:
            return await self.view_of(reg)  # paid already (a double submit)
        view = await self.view_of(reg)
        if reg.attempt_card_id is not None:  # attempt n was asked for: it is charged again
            view.ready = True
            return view
        await check_all(self._limits.limiter, [(f"registration-payments:{address or '-'}",
                                                self._limits.payments)],
                        "Too many payments tried from this address.")  # fmt: skip
        paid = await self._paid(reg)
        active = await self._active(reg)
        if not reg.seats_held:
            room = await self._meetings.room_by_id(paid.room_id)
            await self._take_seats(paid, room, [i.occurrence_id for i in active])
            reg.seats_held = True
        reg.amount = sum(i.amount for i in active)  # a meeting the host cancelled meanwhile
        card_id = f"card_{self._suffix(reg)}{sha256(card_token)[:6]}"  # a new token, a new card
        try:
            card = await self._clients.add_card(reg.business_id, reg.client_id,
                                                token=card_token, card_id=card_id)  # fmt: skip
        except IdempotencyKeyInUse:
            raise
        except (PaymentDeclined, PaymentActionRequired, GatewayInvalidRequest) as exc:
            return await self._refused(reg, paid, exc)
        reg.attempt_card_id = card.card.id
        reg.updated_at = self._clock.now()
        view.ready = True
        return view

    @staticmethod
    def _suffix(reg: Registration) -> str:
        return f"{reg.id.removeprefix('reg_')}_{reg.attempt}"

    async def pay_charge(self, registration_id: str, token: str) -> RegistrationView:
        """Paying, step two: attempt *n* charged (or held) with its card, under a key of its
        own (``payment:pay_<registration>_<n>:create``): asked again after a lost answer,
        the gateway answers as the first time."""
        return await self._charge_attempt(await self._mine(registration_id, token), token)

    async def _charge_attempt(self, reg: Registration, token: str | None) -> RegistrationView:
        if reg.status != RegistrationStatus.PENDING or reg.attempt_card_id is None:
            return await self.view_of(reg)
        paid = await self._paid(reg)
        room = await self._meetings.room_by_id(paid.room_id)
        biz = await self._payments.business(reg.business_id)
        try:
            payment = await self._payments.charge(
                biz, client_id=reg.client_id, card_id=reg.attempt_card_id, amount=reg.amount,
                currency=reg.currency, category="service", capture=not paid.no_show_hold,
                description=f"{room.topic} — registration {reg.id}",
                payment_id=f"pay_{self._suffix(reg)}")  # fmt: skip
        except IdempotencyKeyInUse:
            raise
        except (PaymentDeclined, PaymentActionRequired, GatewayInvalidRequest) as exc:
            return await self._refused(reg, paid, exc)
        reg.payment_id = payment.id
        reg.failure = None
        await self._settled(reg, paid, room, payment, token)
        return await self.view_of(reg)

    async def _refused(self, reg: Registration, paid: PaidMeeting,
                       exc: GatewayError) -> RegistrationView:  # fmt: skip
        """The card was refused: attempt n ends, its seats are given back."""
        reg.attempt += 1
        reg.attempt_card_id = None
        reg.failure = exc.message[:300]
        reg.updated_at = self._clock.now()
        if reg.seats_held:
            await self._give_seats(paid, [i.occurrence_id for i in await self._active(reg)])
            reg.seats_held = False
        view = await self.view_of(reg)
        view.failure = as_fareroom_error(exc)
        return view

    async def _settled(self, reg: Registration, paid: PaidMeeting, room: MeetingRoom,
                       payment: Payment, token: str | None) -> None:  # fmt: skip
        """The registration as its payment stands: paid (or held) gets its codes, the
        registrant's mail and the host's notification; anything else waits."""
        if payment.status == PaymentStatus.SUCCEEDED:
            reg.status = RegistrationStatus.PAID
        elif payment.status == PaymentStatus.REQUIRES_CAPTURE:
            reg.status = RegistrationStatus.HELD
        else:
            return
        reg.updated_at = self._clock.now()
        items = await self._active(reg)
        if paid.pricing == Pricing.PER_SERIES:
            codes = [MeetingCode(code=await self._unique_code(), registration_id=reg.id,
                                 room_id=room.id, occurrence_id=None)]  # fmt: skip
        else:
            codes = [MeetingCode(code=await self._unique_code(), registration_id=reg.id,
                                 room_id=room.id, occurrence_id=i.occurrence_id)
                     for i in items]  # fmt: skip
        self._session.add_all(codes)
        await self._session.flush()
        await self._tell(reg, paid, room, codes, token)

    async def _tell(self, reg: Registration, paid: PaidMeeting, room: MeetingRoom,
                    codes: list[MeetingCode], token: str | None) -> None:  # fmt: skip
        host = (await self._meetings.view(reg.business_id, room.id)).host
        what = f"{room.topic}: {Money(reg.amount, reg.currency).format()}"
        if reg.status == RegistrationStatus.HELD:
            what += " held (a no-show fee)"
        self._session.add(Notification(
            id=new_id("ntf"), business_id=reg.business_id, user_id=room.host_id,
            kind="registration", title=f"{reg.name} registered", ref_id=reg.id,
            body=f"{reg.name} <{reg.email}> — {what}", created_at=self._clock.now()))  # fmt: skip
        outbox = Outbox(self._session, self._clock)
        biz = await self._payments.business(reg.business_id)
        company = biz.company_name or biz.name
        if paid.notify_email and host is not None:
            await outbox.queue(business_id=biz.id, to=host.email, kind=MailKind.REGISTRATION,
                               subject=f"New registration: {room.topic}",
                               body=f"{reg.name} <{reg.email}> registered for {what}.",
                               reference=reg.id,
                               unique_key=f"registration:{reg.id}:host")  # fmt: skip
        base = self._base_url
        # the worker finishing a payment has no token (only its hash is kept): no own link
        cancel = (f"Cancel: {self.links(paid, room, reg, token)['cancel']}" if token
                  else f"To cancel, write to {company}.")  # fmt: skip
        lines = [f"You are registered for {room.topic}, with {company}.", ""]
        occurrences = {o.id: o for o in await self._repo.occurrences(paid.id)}
        for c in codes:
            when = ("every meeting of the series" if c.occurrence_id is None
                    else self._when(room, occurrences[c.occurrence_id]))  # fmt: skip
            lines += [f"Your meeting code for {when}: {display_code(c.code)}",
                      f"  Join: {base}/m/{room.code}?code={c.code}"]  # fmt: skip
        lines += ["", f"Paid: {Money(reg.amount, reg.currency).format()}"
                  if reg.status == RegistrationStatus.PAID else
                  f"Held on your card: {Money(reg.amount, reg.currency).format()}, charged only "
                  "if you do not come.", "", f"Refunds: {self.policy_text(paid)}",
                  cancel, "",
                  "A code lets one person in at a time, from 30 minutes before the "
                  "start."]  # fmt: skip
        await outbox.queue(business_id=biz.id, to=reg.email, kind=MailKind.REGISTRATION,
                           subject=f"Your registration: {room.topic}", body="\n".join(lines),
                           reference=reg.id, sender_name=company,
                           calendar=await self.calendar(reg, codes=codes),
                           unique_key=f"registration:{reg.id}:registrant")  # fmt: skip

    def links(self, paid: PaidMeeting, room: MeetingRoom, reg: Registration,
              token: str) -> dict[str, str]:  # fmt: skip
        """The registrant's own links (their token in them: only they got it)."""
        mine = f"{self._base_url}/r/{paid.code}"
        return {
            "page": mine,
            "start": f"{self._base_url}/m/{room.code}",
            "cancel": f"{mine}/cancel?registration={reg.id}&token={token}",
            "calendar": f"{mine}/registrations/{reg.id}/calendar.ics?token={token}",
        }

    async def calendar(self, reg: Registration, *,
                       codes: Sequence[MeetingCode] | None = None) -> str:  # fmt: skip
        """The registrant's calendar file: the series with its RRULE (a whole series), or
        each occurrence they have a seat in; their code in each event."""
        paid = await self._paid(reg)
        room = await self._meetings.room_by_id(paid.room_id)
        page = await self._meetings.start_page(room.code)
        codes = codes if codes is not None else await self._repo.codes(reg.id)
        live = [c for c in codes if c.revoked_at is None]
        note = "Meeting code: " + ", ".join(display_code(c.code) for c in live) if live else ""
        link = f"{self._base_url}/m/{room.code}" + (f"?code={live[0].code}" if len(live) == 1
                                                    else "")  # fmt: skip
        if paid.pricing == Pricing.PER_SERIES:
            return self._meetings.calendar(room, page, link=link, note=note)
        starts = {o.id: o.starts_at for o in await self._repo.occurrences(paid.id)}
        return self._meetings.calendar(room, page, link=link, note=note, starts=sorted(
            starts[i.occurrence_id] for i in await self._active(reg)))  # fmt: skip

    async def registrant_calendar(self, registration_id: str, token: str) -> str:
        return await self.calendar(await self._mine(registration_id, token))

    @staticmethod
    def policy_text(paid: PaidMeeting) -> str:
        """The refund policy in a sentence, as the page's terms and the mail say it."""
        if paid.refund_rule == RefundRule.ALWAYS:
            return "Cancel any time before the meeting for a full refund."
        if paid.refund_rule == RefundRule.NEVER:
            return "No refunds: a registration cannot be refunded."
        minutes = paid.refund_window_minutes
        for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
            if minutes % size == 0:
                n = minutes // size
                window = f"{n} {unit}{'' if n == 1 else 's'}"
                break
        share = "a full refund" if paid.refund_percent == 100 else f"{paid.refund_percent} % back"
        return f"Cancel at least {window} before the start for {share}; no refund after."

    async def _active(self, reg: Registration) -> list[RegistrationItem]:
        return [i for i in await self._repo.items(reg.id) if not i.cancelled]

    async def _paid(self, reg: Registration) -> PaidMeeting:
        paid = await self._repo.paid_meeting(reg.business_id, reg.paid_meeting_id)
        assert paid is not None
        return paid

    async def view_of(self, reg: Registration) -> RegistrationView:
        refunded = 0
        if reg.payment_id is not None:
            payment = (await self._payments.get(reg.business_id, reg.payment_id)).payment
            refunded = payment.amount_refunded
        return RegistrationView(reg, list(await self._repo.items(reg.id)),
                                list(await self._repo.codes(reg.id)),
                                refunded=refunded)  # fmt: skip

    async def registrant_view(self, registration_id: str, token: str) -> RegistrationView:
        return await self.view_of(await self._mine(registration_id, token))

    # ------------------------------------------------------------------ the worker's

    async def _expire(self, reg: Registration) -> None:
        if reg.status != RegistrationStatus.PENDING or reg.payment_id is not None:
            return
        if reg.attempt_card_id is not None:  # a charge may have gone through: finished first
            return
        if reg.seats_held:
            paid = await self._paid(reg)
            await self._give_seats(paid, [i.occurrence_id for i in await self._active(reg)])
            reg.seats_held = False
        reg.status = RegistrationStatus.EXPIRED
        reg.updated_at = self._clock.now()

    async def follow_holds(self, *, limit: int = 200) -> int:
        """Held registrations follow what the gateway did to their hold without us (told by
        a verified webhook, which the payment recorded once): captured → ``no_show``;
        released after the meeting → ``attended``; released before it → still ``held`` (the
        seat is theirs) with ``failure`` saying the hold is gone, for the host to see."""
        found = await self._repo.holds_settled_elsewhere(limit=limit)
        now = self._clock.now()
        for reg, status in found:
            reg = await self._locked(reg.business_id, reg.id)
            if status == PaymentStatus.SUCCEEDED:
                reg.status = RegistrationStatus.NO_SHOW
            else:
                paid = await self._paid(reg)
                starts = {o.id: o.starts_at for o in await self._repo.occurrences(paid.id)}
                if all(starts[i.occurrence_id] <= now for i in await self._active(reg)):
                    reg.status = RegistrationStatus.ATTENDED
                else:
                    reg.failure = "The card's hold was released at the gateway."
            reg.updated_at = now
        return len(found)

    async def finish_attempts(self, *, limit: int = 200) -> int:
        """Attempts left half way (their card committed, the charge's answer never came
        back: the page died, the process crashed): asked again under the same key, the
        gateway answers as the first time, or charges now what the registrant asked for.
        Only those untouched for ``FINISH_AFTER``, so a page still paying is not raced."""
        ids = await self._repo.half_paid(self._clock.now() - FINISH_AFTER, limit=limit)
        for reg_id in ids:
            reg = await self._repo.registration_by_id(reg_id, lock=True)
            if reg is not None:
                await self._charge_attempt(reg, None)
        return len(ids)

    async def expire_pending(self, *, limit: int = 200) -> int:
        """Pending registrations past their time give their seats back; returns how many."""
        ids = await self._repo.expired(self._clock.now(), limit=limit)
        for reg_id in ids:
            reg = await self._repo.registration_by_id(reg_id, lock=True)
            if reg is not None:
                await self._expire(reg)
        return len(ids)

    # ------------------------------------------------------------------ refunds, cancelling

    async def registration(self, business_id: str, registration_id: str) -> RegistrationView:
        reg = await self._repo.registration(business_id, registration_id)
        if reg is None:
            raise RegistrationNotFound()
        return await self.view_of(reg)

    async def registrations(self, business_id: str, *, limit: int, starting_after: str | None,
                            paid_id: str | None = None, status: str | None = None,
                            occurrence_id: str | None = None
                            ) -> list[RegistrationView]:  # fmt: skip
        found = await self._repo.registrations(
            business_id, limit=limit, starting_after=starting_after, paid_id=paid_id,
            status=status, occurrence_id=occurrence_id)  # fmt: skip
        return [await self.view_of(r) for r in found]

    async def _locked(self, business_id: str, registration_id: str) -> Registration:
        reg = await self._repo.registration(business_id, registration_id, lock=True)
        if reg is None:
            raise RegistrationNotFound()
        return reg

    async def refund(self, biz: Business, registration_id: str, *, amount: int | None,
                     reason: str, refund_id: str | None = None,
                     by: User | None = None) -> RegistrationView:  # fmt: skip
        """The host's one click: all that is left (``amount`` None) or part of it."""
        reg = await self._locked(biz.id, registration_id)
        if by is not None:
            paid = await self._paid(reg)
            self._meetings.check_may_change(by, await self._meetings.room_by_id(paid.room_id))
        if reg.payment_id is None or reg.status in (RegistrationStatus.PENDING,
                                                    RegistrationStatus.HELD,
                                                    RegistrationStatus.EXPIRED):  # fmt: skip
            raise NotRefundable(f"This registration is {reg.status}: nothing was charged to "
                                "refund.", registration_status=str(reg.status))  # fmt: skip
        await self._payments.refund(biz, reg.payment_id, amount=amount, reason=reason,
                                    refund_id=refund_id)  # fmt: skip
        await self._after_refund(reg)
        return await self.view_of(reg)

    async def _after_refund(self, reg: Registration, *, cancelled: bool = False) -> None:
        """The state a refund leaves: refunded in full frees the seats and ends the codes."""
        payment = (await self._payments.get(reg.business_id, str(reg.payment_id))).payment
        full = payment.amount_refunded >= payment.amount_captured
        if full or cancelled:
            await self._end_items(reg, await self._active(reg))
        if cancelled:
            reg.status = RegistrationStatus.CANCELLED
        elif full:
            reg.status = RegistrationStatus.REFUNDED
        elif reg.status == RegistrationStatus.PAID:
            reg.status = RegistrationStatus.PARTLY_REFUNDED
        reg.updated_at = self._clock.now()

    async def _end_items(self, reg: Registration, items: Sequence[RegistrationItem]) -> None:
        """These seats are given back and their codes admit no more."""
        if not items:
            return
        paid = await self._paid(reg)
        now = self._clock.now()
        if reg.seats_held:
            await self._give_seats(paid, [i.occurrence_id for i in items])
        for i in items:
            i.cancelled = True
            if paid.pricing != Pricing.PER_SERIES:
                await self._repo.revoke_codes(reg.id, now, occurrence_id=i.occurrence_id)
        if all(i.cancelled for i in await self._repo.items(reg.id)):
            await self._repo.revoke_codes(reg.id, now)
        await self._session.flush()

    async def _cancel_plan(self, reg: Registration, paid: PaidMeeting, occurrence_id: str | None
                           ) -> tuple[list[RegistrationItem], dict[str, int]]:  # fmt: skip
        """What cancelling now would end (the items not yet started; ``occurrence_id``:
        that one) and give back by the policy (nothing for a hold: it is released)."""
        if reg.status not in (*SEATED, RegistrationStatus.HELD):
            raise NotRefundable(f"This registration is {reg.status}; it cannot be cancelled.",
                                code="registration_not_cancellable")  # fmt: skip
        if paid.pricing == Pricing.PER_SERIES and occurrence_id is not None:
            raise ValidationFailed("A series is cancelled as a whole.",
                                   code="series_cancelled_whole")  # fmt: skip
        now = self._clock.now()
        starts = {o.id: o.starts_at for o in await self._repo.occurrences(paid.id)}
        targets = [i for i in await self._active(reg) if starts[i.occurrence_id] > now
                   and occurrence_id in (None, i.occurrence_id)]  # fmt: skip
        if not targets:
            raise RegistrationClosed("There is nothing left to cancel: the meetings of this "
                                     "registration have started or were cancelled.",
                                     code="nothing_to_cancel")  # fmt: skip
        used = {c.occurrence_id for c in await self._repo.codes(reg.id) if c.used_at}
        if None in used or any(i.occurrence_id in used for i in targets):
            raise RegistrationClosed("You joined this meeting with your code already, so it "
                                     "can no longer be cancelled here; ask the host.",
                                     code="code_used")  # fmt: skip
        if reg.status == RegistrationStatus.HELD:
            return targets, {}
        if paid.pricing == Pricing.PER_SERIES:  # measured to the series' next meeting
            first = min(starts[i.occurrence_id] for i in targets)
            backs = {i.occurrence_id: refund_of(paid, [(i.amount, first)], now=now)
                     for i in targets}  # fmt: skip
        else:
            backs = {i.occurrence_id: refund_of(paid, [(i.amount, starts[i.occurrence_id])],
                                                now=now) for i in targets}  # fmt: skip
        payment = (await self._payments.get(reg.business_id, str(reg.payment_id))).payment
        left = payment.amount_captured - payment.amount_refunded
        for occ_id in backs:  # never past what is left of the payment
            backs[occ_id] = min(backs[occ_id], left)
            left -= backs[occ_id]
        return targets, backs

    async def cancel_quote(
        self, registration_id: str, token: str
    ) -> tuple[RegistrationView, int | None]:
        """The registration, and what cancelling it now gives back (None: it cannot be)."""
        reg = await self._mine(registration_id, token)
        try:
            _, backs = await self._cancel_plan(reg, await self._paid(reg), None)
        except (NotRefundable, RegistrationClosed):
            return await self.view_of(reg), None
        return await self.view_of(reg), sum(backs.values())

    async def cancel(self, registration_id: str, token: str, *,
                     occurrence_id: str | None = None) -> RegistrationView:  # fmt: skip
        """The registrant cancels (the link in their mail): refunded by the policy now, for
        the occurrences not yet started (``occurrence_id``: one of them)."""
        reg = await self._mine(registration_id, token)
        paid = await self._paid(reg)
        biz = await self._payments.business(reg.business_id)
        now = self._clock.now()
        if reg.status == RegistrationStatus.PENDING and reg.payment_id is None:
            await self._end_items(reg, await self._active(reg))
            reg.status, reg.updated_at = RegistrationStatus.CANCELLED, now
            return await self.view_of(reg)
        targets, backs = await self._cancel_plan(reg, paid, occurrence_id)
        back = sum(backs.values())
        if reg.status == RegistrationStatus.HELD:
            await self._payments.cancel(biz, str(reg.payment_id))
        for occ_id, amount in backs.items():  # a refund a seat, its id the seat's own
            if amount > 0:
                await self._payments.refund(biz, str(reg.payment_id), amount=amount,
                                            reason="Cancelled by the registrant",
                                            refund_id=_item_refund_id(reg, occ_id))  # fmt: skip
        await self._end_items(reg, targets)
        if not await self._active(reg):
            reg.status = RegistrationStatus.CANCELLED
        elif back > 0:
            reg.status = RegistrationStatus.PARTLY_REFUNDED
        reg.updated_at = now
        return await self.view_of(reg)

    async def cancel_occurrence(self, biz: Business, paid_id: str, occurrence_id: str, *,
                                by: User | None = None) -> OccurrenceView:  # fmt: skip
        """The host cancels one meeting: each registrant gets that meeting's share back in
        full (per occurrence: its price; per series: the series' price spread over its
        meetings), their hold released, their code for it ended."""
        paid = await self._repo.paid_meeting(biz.id, paid_id, lock=True)
        if paid is None:
            raise PaidMeetingNotFound()
        room = (await self._meetings.view(biz.id, paid.room_id)).room
        self._meetings.check_may_change(by, room)
        occ = await self._repo.occurrence(paid.id, occurrence_id, lock=True)
        if occ is None:
            raise OccurrenceNotFound()
        now = self._clock.now()
        if occ.cancelled_at is None:
            if occ.starts_at <= now:
                raise RegistrationClosed("This meeting has started; it can no longer be "
                                         "cancelled.", code="occurrence_started")  # fmt: skip
            occ.cancelled_at = now
        return self._occurrence_view(paid, room, occ, now)

    async def cancellations_to_settle(self, *, limit: int) -> list[tuple[str, str, str]]:
        """(business, registration, occurrence) of each seat in a cancelled meeting not yet
        refunded or released: ``settle_cancelled`` takes them one by one, each in a
        transaction of its own (the host's request right after the cancel, the worker's
        sweep after a crash), so one failure holds back no one else."""
        return list(await self._repo.cancelled_seats(limit=limit))

    async def settle_cancelled(self, business_id: str, registration_id: str,
                               occurrence_id: str) -> None:  # fmt: skip
        """One registrant of a cancelled meeting: that meeting's share refunded in full (or
        the hold released), the seat's code ended, the registrant told. Locks the
        registration, then the occurrences, like every other writer."""
        biz = await self._payments.business(business_id)
        reg = await self._locked(business_id, registration_id)
        paid = await self._paid(reg)
        room = await self._meetings.room_by_id(paid.room_id)
        occ = await self._repo.occurrence(paid.id, occurrence_id)
        assert occ is not None and occ.cancelled_at is not None
        item = next(i for i in await self._repo.items(reg.id) if i.occurrence_id == occ.id)
        if item.cancelled:
            return
        if reg.status == RegistrationStatus.PENDING:
            await self._end_items(reg, [item])
            if all(i.cancelled for i in await self._repo.items(reg.id)):
                reg.status = RegistrationStatus.CANCELLED
            return
        if reg.status == RegistrationStatus.HELD:
            await self._payments.cancel(biz, str(reg.payment_id))
            await self._end_items(reg, [item])
            reg.status = RegistrationStatus.CANCELLED
        elif reg.status in SEATED:
            payment = (await self._payments.get(biz.id, str(reg.payment_id))).payment
            back = min(item.amount, payment.amount_captured - payment.amount_refunded)
            if back > 0:
                await self._payments.refund(
                    biz, payment.id, amount=back,
                    reason=f"The host cancelled the meeting of {self._when(room, occ)}",
                    refund_id=_item_refund_id(reg, occ.id))  # fmt: skip
            await self._end_items(reg, [item])
            payment = (await self._payments.get(biz.id, payment.id)).payment
            left = await self._active(reg)
            reg.status = (RegistrationStatus.REFUNDED if not left
                          or payment.amount_refunded >= payment.amount_captured
                          else RegistrationStatus.PARTLY_REFUNDED)  # fmt: skip
        else:  # expired, cancelled, refunded: nothing of theirs to give back; the seat ends
            await self._end_items(reg, [item])
            return
        reg.updated_at = self._clock.now()
        await Outbox(self._session, self._clock).queue(
            business_id=biz.id, to=reg.email, kind=MailKind.REGISTRATION,
            subject=f"Cancelled: {room.topic}, {self._when(room, occ)}",
            body=f"The meeting of {self._when(room, occ)} is cancelled by its host. "
                 + ("Your card's hold is released." if reg.status == RegistrationStatus.CANCELLED
                    else f"{Money(item.amount, reg.currency).format()} is refunded to your card."),
            reference=reg.id, sender_name=biz.company_name or biz.name,
            unique_key=f"registration:{reg.id}:cancelled:{occ.id}")  # fmt: skip

    async def no_show_plan(self, biz: Business, paid_id: str, occurrence_id: str,
                           no_shows: list[str], *, by: User | None = None
                           ) -> list[tuple[str, bool]]:  # fmt: skip
        """After a meeting with a no-show fee: (registration, a no-show?) for each registrant
        whose card is held, checked; ``settle_no_show`` then takes them one by one, each in a
        transaction of its own, so one capture the gateway refuses holds back no one else."""
        paid = await self._repo.paid_meeting(biz.id, paid_id)
        if paid is None:
            raise PaidMeetingNotFound()
        room = (await self._meetings.view(biz.id, paid.room_id)).room
        self._meetings.check_may_change(by, room)
        occ = await self._repo.occurrence(paid.id, occurrence_id)
        if occ is None:
            raise OccurrenceNotFound()
        if not paid.no_show_hold:
            raise ValidationFailed("This meeting has no no-show fee.", code="no_show_fee_off")
        ends = occ.starts_at + timedelta(minutes=room.duration_minutes or 0)
        if self._clock.now() < ends:
            raise RegistrationClosed("Mark no-shows once the meeting is over.",
                                     code="occurrence_not_over")  # fmt: skip
        held = [r.id for r in await self._repo.seated_in(occ.id)
                if r.status == RegistrationStatus.HELD]  # fmt: skip
        unknown = set(no_shows) - set(held)
        if unknown:
            raise ValidationFailed("Only registrants of this meeting whose card is held can be "
                                   f"marked: not {sorted(unknown)}.",
                                   code="not_held_here")  # fmt: skip
        return [(reg_id, reg_id in no_shows) for reg_id in held]

    async def starts(self, paid_id: str) -> dict[str, datetime]:
        """Each of a paid meeting's occurrences' start, past ones too (their rows stay)."""
        return {o.id: o.starts_at for o in await self._repo.occurrences(paid_id)}

    async def no_shows_due(self, paid: PaidView, *, limit: int = 500
                           ) -> list[tuple[Occurrence, list[Registration]]]:  # fmt: skip
        """The meetings over whose registrants' cards are still held, each with them: what
        the host marks after a meeting (its dashboard lists these, not the coming ones)."""
        if not paid.paid.no_show_hold:
            return []
        ended = self._clock.now() - timedelta(minutes=paid.room.duration_minutes or 0)
        due: dict[str, tuple[Occurrence, list[Registration]]] = {}
        for occ, reg in await self._repo.held_in_ended(paid.paid.id, ended, limit=limit):
            due.setdefault(occ.id, (occ, []))[1].append(reg)
        return list(due.values())

    async def settle_no_show(self, business_id: str, registration_id: str,
                             no_show: bool) -> RegistrationView:  # fmt: skip
        """One held registrant after the meeting: the hold captured (a no-show) or released.
        Again for one settled already: nothing more."""
        biz = await self._payments.business(business_id)
        reg = await self._locked(business_id, registration_id)
        if reg.status == RegistrationStatus.HELD:
            if no_show:
                await self._payments.capture(biz, str(reg.payment_id))
                reg.status = RegistrationStatus.NO_SHOW
            else:
                await self._payments.cancel(biz, str(reg.payment_id))
                reg.status = RegistrationStatus.ATTENDED
            reg.updated_at = self._clock.now()
        return await self.view_of(reg)

    # ------------------------------------------------------------------ notifications

    async def notifications(self, business_id: str, user_id: str, *, limit: int,
                            starting_after: str | None, unread: bool = False
                            ) -> tuple[Sequence[Notification], int]:  # fmt: skip
        """A user's notifications, newest first, and how many are unread."""
        found = await self._repo.notifications(
            business_id, user_id, limit=limit, starting_after=starting_after,
            unread=unread)  # fmt: skip
        return found, await self._repo.unread(business_id, user_id)

    async def unread(self, business_id: str, user_id: str) -> int:
        return await self._repo.unread(business_id, user_id)

    async def mark_read(self, business_id: str, user_id: str, ids: Sequence[str] | None) -> int:
        """Returns how many are still unread."""
        await self._repo.mark_read(business_id, user_id, ids, self._clock.now())
        return await self._repo.unread(business_id, user_id)

    # ------------------------------------------------------------------ the door

    async def asks_code(self, room: MeetingRoom) -> bool:
        return await self._repo.paid_for_room(room.id) is not None

    async def admit(self, room: MeetingRoom, code: str | None, address: str | None
                    ) -> tuple[str, str]:  # fmt: skip
        """The registrant a meeting code lets in now: (``code:<code>``, their name). A code
        admits to its occurrence (a series' code to any of them) from ``ADMIT_BEFORE`` its
        start to its end, while its registration holds its seat; wrong codes are counted
        per room and address."""
        if not code or not code.strip():
            raise CodeRequired()
        keys = [(f"meeting-code:{room.id}:{address or '-'}", self._limits.wrong_codes)]
        what = "Too many wrong codes for this meeting."
        await check_all(self._limits.limiter, keys, what, count=False)
        found = await self._repo.code(normal_code(code)[:16])
        if found is None or found.room_id != room.id:
            await check_all(self._limits.limiter, keys, what)
            raise CodeInvalid()
        reg = await self._repo.registration_by_id(found.registration_id)
        assert reg is not None
        if found.revoked_at is not None or reg.status not in (*SEATED, RegistrationStatus.HELD):
            raise CodeRevoked()
        now = self._clock.now()
        length = timedelta(minutes=room.duration_minutes or 0)
        starts = {o.id: o for o in await self._repo.occurrences(reg.paid_meeting_id)}
        mine = [starts[i.occurrence_id] for i in await self._active(reg)
                if found.occurrence_id in (None, i.occurrence_id)]  # fmt: skip
        if not any(o.starts_at - ADMIT_BEFORE <= now <= o.starts_at + length for o in mine):
            later = [o for o in mine if o.starts_at + length > now]
            when = self._when(room, min(later, key=lambda o: o.starts_at)) if later else None
            raise CodeNotNow(when)
        if found.used_at is None:
            found.used_at = now
        return f"code:{found.code}", reg.name

    async def still_admits(self, room: MeetingRoom, identity: str) -> bool:
        """A page coming back (a rejoin) with a code's identity: is the code still good?
        A refund or a cancellation meanwhile ends it, even for the page already in."""
        found = await self._repo.code(identity.removeprefix("code:"))
        if found is None or found.room_id != room.id or found.revoked_at is not None:
            return False
        reg = await self._repo.registration_by_id(found.registration_id)
        return reg is not None and reg.status in (*SEATED, RegistrationStatus.HELD)
