"""Charging a bill: one attempt, its outcome, and the retry schedule after a decline.

``collect`` runs in one transaction with the gateway call inside it: the bill is locked,
its attempt chosen, the card charged off-session, and the outcome written (the attempt, the
bill's payment in the ledger, or the decline and the bill's next step on its schedule). A
gateway that cannot be reached (a timeout, a 429) raises ``GatewayUnavailable`` out of the
transaction, which then writes nothing; trying again asks under the same idempotency key.

The key is the payment id, ``pay_<bill>_<n>`` for the bill's attempt ``n``: ``n`` is the
number of the bill's closed attempts plus one, so every try of one attempt is the same
request to the gateway, which answers what it did the first time instead of charging again,
even when its first answer was lost. An attempt given up on while the gateway was away is
written down as pending (``give_up``, a transaction of its own), with its card and amount:
the next try of the bill asks the same question again, with the same parameters, and a
pending attempt keeps the bill from being cancelled while its money may have been taken.

The retry schedule (``BillingSettings.retry_days``, e.g. 3, 5, 7): after the ``k``-th
decline the bill is tried again ``days[k-1]`` days later; while more than one try is left
it is ``retrying``, with one left ``past_due``, and declined on the last try it is written
off. Each step mails the client (when the business's reminders are on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.billing.repository import BillsRepository
from fareroom.billing.service import BillNotFound, BillsService, retry_days
from fareroom.billing.wallets import WalletsService
from fareroom.clients.service import ClientsService
from fareroom.gateway.base import GatewayInvalidRequest, PaymentActionRequired, PaymentDeclined
from fareroom.kit.clock import Clock
from fareroom.kit.errors import NotFound
from fareroom.kit.ids import new_id
from fareroom.kit.money import Money
from fareroom.mail.outbox import Outbox
from fareroom.models.billing import (
    OPEN,
    AttemptStatus,
    Bill,
    BillAttempt,
    BillStatus,
    Dunning,
    ItemStatus,
)
from fareroom.models.business import Business
from fareroom.models.client import Card, Client
from fareroom.models.mail import MailKind
from fareroom.payments.service import PaymentsService

GATEWAY_UNAVAILABLE = "gateway_unavailable"


@dataclass(frozen=True)
class Collected:
    """What one try of a bill came to, as a run records it."""

    status: ItemStatus
    attempt: int | None = None
    payment_id: str | None = None
    decline_code: str | None = None
    reason: str | None = None


def payment_id_of(bill_id: str, number: int) -> str:
    return f"pay_{bill_id.removeprefix('bill_')}_{number}"


class CollectService:
    def __init__(self, session: AsyncSession, clock: Clock, bills: BillsService,
                 payments: PaymentsService, clients: ClientsService,
                 wallets: WalletsService) -> None:  # fmt: skip
        self._repo = BillsRepository(session)
        self._wallets = wallets
        self._card: Card | None = None  # the card ``_attempt`` chose
        self._session = session
        self._clock = clock
        self._bills = bills
        self._payments = payments
        self._clients = clients

    def today(self) -> date:
        return self._clock.now().date()

    async def _attempt(self, biz: Business, bill: Bill, run_id: str | None,
                       recurring_only: bool, client: Client, attempts: Sequence[BillAttempt]
                       ) -> BillAttempt | Collected:  # fmt: skip
        """The attempt to make now: the pending one, or a new one (not yet added) with the
        client's preferred card; or, with no card to charge, why not."""
        self._card = None
        for attempt in attempts:
            if attempt.status == AttemptStatus.PENDING:
                return attempt
        card: Card | None = None
        if client.default_card_id is not None:
            try:
                card = await self._clients.card(biz.id, client.id, client.default_card_id)
            except NotFound:
                card = None
        if card is None:
            return Collected(ItemStatus.FAILED, reason="no_card")
        if recurring_only and not card.recurring_authorised:
            return Collected(ItemStatus.FAILED, reason="card_not_authorised")
        number = len(attempts) + 1
        self._card = card
        return BillAttempt(id=new_id("batt"), business_id=biz.id, bill_id=bill.id,
                           number=number, run_id=run_id, card_id=card.id,
                           amount=bill.amount - bill.amount_paid, status=AttemptStatus.PENDING,
                           payment_id=payment_id_of(bill.id, number),
                           created_at=self._clock.now())  # fmt: skip

    async def collect(self, biz: Business, bill_id: str, *, run_id: str | None = None,
                      recurring_only: bool = False) -> Collected:  # fmt: skip
        """Charge the bill once (see the module's note). Raises ``GatewayUnavailable``,
        having written nothing, when the gateway cannot be reached."""
        bill = await self._repo.bill(biz.id, bill_id, lock=True)
        if bill is None:
            raise BillNotFound(bill_id)
        if bill.status not in OPEN:
            return Collected(ItemStatus.SKIPPED, reason=f"bill_{bill.status}")
        if bill.next_try_on is not None and bill.next_try_on > self.today():
            # declined since the run took it (by another run): it waits for its retry day
            return Collected(ItemStatus.SKIPPED, reason="retry_scheduled")
        client = await self._clients.get(biz.id, bill.client_id)
        attempts = await self._repo.attempts(bill.id)
        wallet_paid = await self._from_wallet(biz, bill, client, attempts)
        if bill.status == BillStatus.PAID:
            return Collected(ItemStatus.PAID, reason="wallet")
        attempt = await self._attempt(biz, bill, run_id, recurring_only, client, attempts)
        if isinstance(attempt, Collected):
            return attempt if not wallet_paid else Collected(
                ItemStatus.FAILED, reason=f"{attempt.reason}_after_wallet")  # fmt: skip
        assert attempt.payment_id is not None and attempt.card_id is not None
        try:
            payment = await self._payments.charge(
                biz, client_id=bill.client_id, card_id=attempt.card_id, amount=attempt.amount,
                currency=bill.currency, category="service", capture=True,
                description=f"Bill {bill.reference}", payment_id=attempt.payment_id,
                off_session=True, found=(client, self._card) if self._card else None)  # fmt: skip
        except (PaymentDeclined, PaymentActionRequired, GatewayInvalidRequest) as exc:
            code = exc.decline_code if isinstance(exc, PaymentDeclined) else exc.code
            await self._close(attempt, AttemptStatus.DECLINED, code=code or "declined",
                              error=exc.message)  # fmt: skip
            await self._declined(biz, bill, attempt)
            return Collected(ItemStatus.FAILED, attempt.number, attempt.payment_id,
                             decline_code=attempt.decline_code, reason="declined")  # fmt: skip
        await self._close(attempt, AttemptStatus.SUCCEEDED)
        left = bill.amount - bill.amount_paid
        await self._bills.record_paid(bill, min(payment.amount_captured, left), payment.id)
        return Collected(ItemStatus.PAID, attempt.number, payment.id)

    async def _from_wallet(self, biz: Business, bill: Bill, client: Client,
                           attempts: Sequence[BillAttempt]) -> int:  # fmt: skip
        """What the client's wallet paid of the bill, if the client pays wallet first (and
        no card charge of it is pending: that one is asked again as it was)."""
        if client.pay_with != "wallet_first":
            return 0
        if any(a.status == AttemptStatus.PENDING for a in attempts):
            return 0
        spent = await self._wallets.spend(biz, client.id, bill.amount - bill.amount_paid,
                                          bill_id=bill.id)  # fmt: skip
        if spent is None:
            return 0
        await self._bills.record_paid(bill, -spent.amount, spent.id)
        return -spent.amount

    async def _close(self, attempt: BillAttempt, status: AttemptStatus, *,
                     code: str | None = None, error: str | None = None) -> None:  # fmt: skip
        attempt.status, attempt.decline_code = status, code
        attempt.error = error[:300] if error else None
        attempt.finished_at = self._clock.now()
        if attempt not in self._session:
            self._session.add(attempt)  # written at the commit: nothing reads it before

    async def give_up(self, biz: Business, bill_id: str, *, run_id: str | None = None,
                      recurring_only: bool = False, error: str = "") -> Collected:  # fmt: skip
        """The gateway stayed away: write the attempt down as pending (its answer may yet be
        a charge) so that the bill's next try asks the same question."""
        bill = await self._repo.bill(biz.id, bill_id, lock=True)
        if bill is None:
            raise BillNotFound(bill_id)
        if bill.status not in OPEN:
            return Collected(ItemStatus.SKIPPED, reason=f"bill_{bill.status}")
        client = await self._clients.get(biz.id, bill.client_id)
        attempts = await self._repo.attempts(bill.id)
        attempt = await self._attempt(biz, bill, run_id, recurring_only, client, attempts)
        if isinstance(attempt, Collected):
            return attempt
        attempt.error = error[:300] or "The gateway could not be reached."
        if attempt not in self._session:
            await self._repo.add(attempt)
        return Collected(ItemStatus.FAILED, attempt.number, attempt.payment_id,
                         reason=GATEWAY_UNAVAILABLE)  # fmt: skip

    # ------------------------------------------------------------ dunning

    async def _declined(self, biz: Business, bill: Bill, attempt: BillAttempt) -> None:
        settings = await self._repo.settings(biz.id)
        days = retry_days(settings)
        bill.declines += 1
        bill.last_decline_code = attempt.decline_code
        bill.updated_at = self._clock.now()
        k = bill.declines
        if k > len(days):
            await self._bills.close(bill, BillStatus.WRITTEN_OFF)
            step = "written_off"
        else:
            bill.dunning = Dunning.PAST_DUE if k == len(days) else Dunning.RETRYING
            bill.next_try_on = self.today() + timedelta(days=days[k - 1])
            step = bill.dunning.value
        if settings is None or settings.reminders:
            await self._remind(biz, bill, attempt, step)

    async def _remind(self, biz: Business, bill: Bill, attempt: BillAttempt, step: str) -> None:
        client = await self._clients.get(biz.id, bill.client_id)
        owed = Money(bill.amount - bill.amount_paid, bill.currency).format()
        label = await self._clients.card_label(biz.id, client.id, attempt.card_id or "")
        day = f"{bill.next_try_on:%A %d %B %Y}" if bill.next_try_on else ""
        said = {
            "retrying": f"We will try your card again on {day}.",
            "past_due": f"This bill is past due. We will try your card one last time on {day}.",
            "written_off": "We have stopped trying to charge your card for this bill. "
                           f"Please contact {biz.name} to settle it.",
        }[step]  # fmt: skip
        body = (f"Hello {client.name},\n\n"
                f"The payment of {owed} for bill {bill.reference} from {biz.name} was declined "
                f"({label}: {attempt.decline_code}).\n\n{said}\n\n"
                "To pay with another card, add it to your account and make it your default; "
                "the next try uses it.\n")  # fmt: skip
        subject = {"retrying": f"Payment declined: bill {bill.reference}",
                   "past_due": f"Past due: bill {bill.reference}",
                   "written_off": f"Unpaid: bill {bill.reference}"}[step]  # fmt: skip
        await Outbox(self._session, self._clock).queue(
            business_id=biz.id, to=client.email, subject=subject, body=body,
            kind=MailKind.BILL, reference=bill.id, sender_name=biz.name,
            unique_key=f"bill:{bill.id}:declined:{attempt.number}")  # fmt: skip
