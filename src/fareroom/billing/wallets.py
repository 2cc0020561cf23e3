"""Wallets: a client's prepaid credit per currency, topped up with a card, spent on bills,
and topped up automatically.

A wallet's balance is the ledger's ``client_wallet`` account of the client; the business's
``wallets_issued`` is the other side of every movement (the sum of its clients' wallets).
The money itself came in as a card payment (``payment_captured`` to the business's
balance), so a top-up posts two transfers in one transaction: the payment, then the credit.
Credit lands only after the payment succeeded: a declined top-up credits nothing.

Automatic top-up: when spending takes the balance below the wallet's ``threshold``, the same
transaction defers one top-up job; the job (its own transaction, the wallet locked) charges
what brings the balance back to ``target`` then (one charge closes the whole gap; a second
job finds no gap). A declined top-up mails the client and is tried again on the business's
retry schedule (``next_topup_on``, the worker's daily schedule). Its payment id is
``pay_top_<wallet>_<n>`` (``n`` the wallet's top-up count): a try the gateway did not answer
is asked again under the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.billing.service import retry_days
from fareroom.clients.service import ClientsService
from fareroom.gateway.base import GatewayInvalidRequest, PaymentActionRequired, PaymentDeclined
from fareroom.jobs import Jobs
from fareroom.kit.clock import Clock
from fareroom.kit.errors import ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.money import MAX_CHARGE_MINOR, MIN_CHARGE_MINOR, Money, normalise_currency
from fareroom.kit.repository import Repository, for_update
from fareroom.ledger.service import AccountRef, Ledger, business
from fareroom.mail.outbox import Outbox
from fareroom.models.billing import BillingSettings, Wallet, WalletMovement
from fareroom.models.business import Business
from fareroom.models.mail import MailKind
from fareroom.payments.service import PaymentsService

TOPUP_TASK = "wallet.topup"
MAX_WALLET = MAX_CHARGE_MINOR * 10


@dataclass(frozen=True)
class WalletView:
    wallet: Wallet | None
    currency: str
    balance: int
    movements: Sequence[WalletMovement]


class WalletsRepository(Repository):
    async def wallet(self, business_id: str, client_id: str, currency: str, *,
                     lock: bool = False) -> Wallet | None:  # fmt: skip
        stmt = select(Wallet).where(
            Wallet.business_id == business_id,
            Wallet.client_id == client_id,
            Wallet.currency == currency,
        )
        return await self.session.scalar(for_update(stmt) if lock else stmt)

    async def by_id(self, wallet_id: str, *, lock: bool = False) -> Wallet | None:
        stmt = select(Wallet).where(Wallet.id == wallet_id)
        return await self.session.scalar(for_update(stmt) if lock else stmt)

    async def movements(self, wallet_id: str, *, limit: int = 100) -> Sequence[WalletMovement]:
        stmt = (select(WalletMovement).where(WalletMovement.wallet_id == wallet_id)
                .order_by(WalletMovement.id.desc()).limit(limit))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def topups_due(self, today: date) -> Sequence[str]:
        stmt = select(Wallet.id).where(Wallet.next_topup_on <= today)
        return (await self.session.scalars(stmt)).all()


class WalletsService:
    def __init__(
        self, session: AsyncSession, clock: Clock, ledger: Ledger, payments: PaymentsService,
        clients: ClientsService, jobs: Jobs,
    ) -> None:  # fmt: skip
        self._repo = WalletsRepository(session)
        self._session = session
        self._clock = clock
        self._ledger = ledger
        self._payments = payments
        self._clients = clients
        self._jobs = jobs

    def _account(self, wallet: Wallet) -> AccountRef:
        return AccountRef("client_wallet", wallet.currency, wallet.business_id, wallet.client_id)

    async def balance(self, wallet: Wallet) -> int:
        return await self._ledger.balance(self._account(wallet))

    async def wallet(self, biz: Business, client_id: str, currency: str | None = None, *,
                     lock: bool = False) -> Wallet:  # fmt: skip
        """The client's wallet in ``currency`` (the business's), made at first use."""
        client = await self._clients.get(biz.id, client_id)
        currency = normalise_currency(currency or biz.default_currency)
        if currency != biz.default_currency:
            raise ValidationFailed(f"This business's wallets are in {biz.default_currency}.",
                                   code="currency_mismatch")  # fmt: skip
        found = await self._repo.wallet(biz.id, client.id, currency, lock=lock)
        if found is None:
            now = self._clock.now()
            found = Wallet(id=new_id("wal"), business_id=biz.id, client_id=client.id,
                           currency=currency, topups=0, failures=0, created_at=now,
                           updated_at=now)  # fmt: skip
            await self._repo.add(found)
        return found

    async def view(self, biz: Business, client_id: str) -> WalletView:
        client = await self._clients.get(biz.id, client_id)
        found = await self._repo.wallet(biz.id, client.id, biz.default_currency)
        if found is None:
            return WalletView(None, biz.default_currency, 0, [])
        return WalletView(found, found.currency, await self.balance(found),
                          await self._repo.movements(found.id))  # fmt: skip

    async def configure(self, biz: Business, client_id: str, *, threshold: int | None,
                        target: int | None) -> WalletView:  # fmt: skip
        """Automatic top-up: below ``threshold``, back up to ``target`` (both None: off)."""
        if (threshold is None) != (target is None):
            raise ValidationFailed("Automatic top-up needs both a threshold and a target.",
                                   code="invalid_auto_topup")  # fmt: skip
        if threshold is not None and target is not None:
            if not 0 <= threshold <= MAX_WALLET or not target <= MAX_WALLET:
                raise ValidationFailed("The threshold or target is out of range.",
                                       code="invalid_auto_topup")  # fmt: skip
            if target - threshold < MIN_CHARGE_MINOR:
                raise ValidationFailed(
                    "The target is at least the smallest charge "
                    f"({Money(MIN_CHARGE_MINOR, biz.default_currency).format()}) above the "
                    "threshold: a top-up is a charge of the card.",
                    code="invalid_auto_topup",
                )
        wallet = await self.wallet(biz, client_id, lock=True)
        wallet.threshold, wallet.target = threshold, target
        wallet.updated_at = self._clock.now()
        view = await self.view(biz, client_id)
        await self._maybe_top_up(wallet, view.balance)
        return view

    async def _move(
        self, wallet: Wallet, kind: str, amount: int, *, payment_id: str | None = None,
        bill_id: str | None = None, note: str = "",
    ) -> WalletMovement:  # fmt: skip
        """Into the wallet (``amount`` > 0) or out of it, with the business's side."""
        cur = wallet.currency
        movement = WalletMovement(id=new_id("wmv"), business_id=wallet.business_id,
                                  wallet_id=wallet.id, kind=kind, amount=amount,
                                  payment_id=payment_id, bill_id=bill_id, note=note[:200],
                                  created_at=self._clock.now())  # fmt: skip
        await self._ledger.post(kind=f"wallet_{kind}", reference=movement.id, currency=cur,
                                business_id=wallet.business_id, legs=[
            (self._account(wallet), -amount),
            (business("wallets_issued", cur, wallet.business_id), amount),
        ], floors=[self._account(wallet)] if amount < 0 else ())  # fmt: skip
        await self._repo.add(movement)
        return movement

    def _check(self, amount: object, currency: str) -> int:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationFailed("'amount' is a whole number of minor units.",
                                   code="invalid_amount")  # fmt: skip
        if amount < MIN_CHARGE_MINOR:
            least = Money(MIN_CHARGE_MINOR, currency).format()
            raise ValidationFailed(f"A top-up is at least {least} (the smallest charge).",
                                   code="amount_too_small", minimum=MIN_CHARGE_MINOR)  # fmt: skip
        if amount > MAX_CHARGE_MINOR:
            most = Money(MAX_CHARGE_MINOR, currency).format()
            raise ValidationFailed(f"A top-up is at most {most}.", code="amount_too_large")
        return amount

    async def top_up(self, biz: Business, client_id: str, amount: int, *,
                     payment_id: str | None = None) -> WalletMovement:  # fmt: skip
        """Charge the client's card ``amount`` and credit it to the wallet (a decline raises,
        crediting nothing)."""
        wallet = await self.wallet(biz, client_id, lock=True)
        amount = self._check(amount, wallet.currency)
        wallet.topups += 1
        payment = await self._payments.charge(
            biz, client_id=wallet.client_id, card_id=None, amount=amount,
            currency=wallet.currency, category="service", capture=True,
            description="Wallet top-up", payment_id=payment_id or new_id("pay"))  # fmt: skip
        return await self._move(wallet, "topup", payment.amount_captured, payment_id=payment.id)

    async def credit(self, biz: Business, client_id: str, amount: int, *, note: str = ""
                     ) -> WalletMovement:  # fmt: skip
        """Credit given by the business (goodwill, a refund as credit): no payment."""
        wallet = await self.wallet(biz, client_id, lock=True)
        if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= (
                MAX_CHARGE_MINOR):  # fmt: skip
            raise ValidationFailed("Credit is 1 minor unit to the largest charge.",
                                   code="invalid_amount")  # fmt: skip
        return await self._move(wallet, "credit", amount, note=note)

    async def spend(self, biz: Business, client_id: str, amount: int, *, bill_id: str
                    ) -> WalletMovement | None:  # fmt: skip
        """Take up to ``amount`` from the wallet for the bill (None: it held nothing). Going
        below the threshold defers the automatic top-up (in this transaction)."""
        wallet = await self._repo.wallet(biz.id, client_id, biz.default_currency, lock=True)
        if wallet is None:
            return None
        balance = await self.balance(wallet)
        taken = min(balance, amount)
        spent = await self._move(wallet, "spent", -taken, bill_id=bill_id) if taken > 0 else None
        await self._maybe_top_up(wallet, balance - taken)
        return spent

    async def _maybe_top_up(self, wallet: Wallet, balance: int) -> None:
        if wallet.threshold is not None and balance < wallet.threshold and (
                wallet.next_topup_on is None):  # fmt: skip
            await self._jobs.defer(self._session, TOPUP_TASK, [{"wallet_id": wallet.id}])

    # ------------------------------------------------------------ automatic top-up (jobs)

    async def auto_top_up(self, wallet_id: str, *, retry: bool = False) -> str:
        """The job: bring the balance back to the target. Raises ``GatewayUnavailable``
        (writing nothing) when the gateway cannot be reached. What it did, in a word."""
        wallet = await self._repo.by_id(wallet_id, lock=True)
        if wallet is None or wallet.threshold is None or wallet.target is None:
            return "off"
        if wallet.next_topup_on is not None and not (
                retry and wallet.next_topup_on <= self._clock.now().date()):  # fmt: skip
            return "waiting"  # a declined top-up waits for its retry day
        balance = await self.balance(wallet)
        if balance >= wallet.threshold:
            return "not_needed"
        gap = wallet.target - balance
        biz = await self._payments.business(wallet.business_id)
        payment_id = f"pay_top_{wallet.id.removeprefix('wal_')}_{wallet.topups + 1}"
        try:
            payment = await self._payments.charge(
                biz, client_id=wallet.client_id, card_id=None, amount=gap,
                currency=wallet.currency, category="service", capture=True,
                description="Wallet top-up (automatic)", payment_id=payment_id,
                off_session=True)  # fmt: skip
        except (PaymentDeclined, PaymentActionRequired, GatewayInvalidRequest) as exc:
            await self._declined(biz, wallet, exc.message)
            return "declined"
        except ValidationFailed as exc:  # no card to charge
            await self._declined(biz, wallet, exc.message)
            return "declined"
        wallet.topups += 1
        wallet.failures, wallet.next_topup_on, wallet.last_failure = 0, None, None
        wallet.updated_at = self._clock.now()
        await self._move(wallet, "topup", payment.amount_captured, payment_id=payment.id,
                         note="automatic")  # fmt: skip
        return "topped_up"

    async def _declined(self, biz: Business, wallet: Wallet, why: str) -> None:
        wallet.topups += 1  # the next try is a new charge (a new card, maybe)
        wallet.failures += 1
        wallet.last_failure = why[:300]
        settings = await self._session.get(BillingSettings, biz.id)
        days = retry_days(settings)
        wait = days[min(wallet.failures, len(days)) - 1] if days else 1
        wallet.next_topup_on = self._clock.now().date() + timedelta(days=wait)
        wallet.updated_at = self._clock.now()
        client = await self._clients.get(biz.id, wallet.client_id)
        await Outbox(self._session, self._clock).queue(
            business_id=biz.id, to=client.email, kind=MailKind.BILL, reference=wallet.id,
            sender_name=biz.name, subject=f"Your {biz.name} wallet could not be topped up",
            body=(f"Hello {client.name},\n\nYour wallet's automatic top-up was declined "
                  f"({why}). We will try again on {wallet.next_topup_on:%A %d %B %Y}. To use "
                  "another card, add it to your account and make it your default.\n"),
            unique_key=f"wallet:{wallet.id}:declined:{wallet.topups}")  # fmt: skip

    async def unreached(self, wallet_id: str) -> None:
        """The gateway stayed away: try again tomorrow (the schedule's)."""
        wallet = await self._repo.by_id(wallet_id, lock=True)
        if wallet is not None and wallet.next_topup_on is None:
            wallet.next_topup_on = self._clock.now().date() + timedelta(days=1)

    async def topups_due(self, today: date) -> Sequence[str]:
        return await self._repo.topups_due(today)
