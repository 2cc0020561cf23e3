"""A client's account receivable, and a payment's detail.

The account: what the client owes (the ledger's ``client_receivable``: open bills, and any
chat debt it left), how it pays (cards, the wallet, its preference),
and the timeline of everything that happened on the account, newest first: bills issued and
closed, charge attempts with the gateway request behind each, payments, refunds, wallet
movements, cancellations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.billing.wallets import WalletsService, WalletView
from fareroom.clients.service import ClientsService, ClientView
from fareroom.kit.errors import Conflict
from fareroom.kit.repository import Repository
from fareroom.ledger.service import AccountRef, Ledger
from fareroom.models.billing import (
    OPEN,
    Bill,
    BillAttempt,
    BillStatus,
    PaymentCancellation,
    WalletMovement,
)
from fareroom.models.business import Business
from fareroom.models.gateway import GatewayRequest
from fareroom.models.payment import Payment, Refund
from fareroom.models.registration import PaidMeeting, Registration
from fareroom.payments.service import PaymentsService, PaymentView

TIMELINE = 200  # events shown


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # bill_issued, bill_paid, bill_cancelled, bill_written_off, attempt, payment, ...
    text: str
    amount: int | None = None  # the money of the event, minor units (wallet: signed)
    ref: str | None = None  # the bill, payment or wallet movement
    detail: dict[str, str | int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    client: ClientView
    currency: str
    receivable: int
    open_bills: Sequence[Bill]
    wallet: WalletView
    timeline: Sequence[Event]


@dataclass(frozen=True)
class PaymentDetail:
    """A payment as its page shows it: what it paid for, every gateway request behind it,
    its refunds and cancellation."""

    view: PaymentView
    client_name: str
    paid_for: str  # in words
    paid_for_link: str | None
    requests: Sequence[GatewayRequest]
    cancellation: PaymentCancellation | None


class ReceivablesRepository(Repository):
    async def bills(self, business_id: str, client_id: str) -> Sequence[Bill]:
        stmt = (select(Bill).where(Bill.business_id == business_id, Bill.client_id == client_id)
                .order_by(Bill.id.desc()).limit(TIMELINE))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def attempts(self, bill_ids: Sequence[str]) -> Sequence[BillAttempt]:
        if not bill_ids:
            return []
        stmt = select(BillAttempt).where(BillAttempt.bill_id.in_(bill_ids))
        return (await self.session.scalars(stmt)).all()

    async def payments(self, business_id: str, client_id: str) -> Sequence[Payment]:
        stmt = (select(Payment).where(Payment.business_id == business_id,
                                      Payment.client_id == client_id)
                .order_by(Payment.id.desc()).limit(TIMELINE))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def refunds(self, payment_ids: Sequence[str]) -> Sequence[Refund]:
        if not payment_ids:
            return []
        return (await self.session.scalars(
            select(Refund).where(Refund.payment_id.in_(payment_ids)))).all()  # fmt: skip

    async def cancellations(self, payment_ids: Sequence[str]) -> Sequence[PaymentCancellation]:
        if not payment_ids:
            return []
        stmt = select(PaymentCancellation).where(PaymentCancellation.payment_id.in_(payment_ids))
        return (await self.session.scalars(stmt)).all()

    async def paid_for(self, payment: Payment) -> tuple[str, str | None]:
        attempt = await self.session.scalar(
            select(BillAttempt).where(BillAttempt.payment_id == payment.id)
        )
        if attempt is not None:
            bill = await self.session.get(Bill, attempt.bill_id)
            assert bill is not None
            return (f"Bill {bill.reference} (charge {attempt.number})",
                    f"/dashboard/customers/{bill.client_id}")  # fmt: skip
        topup = await self.session.scalar(
            select(WalletMovement).where(WalletMovement.payment_id == payment.id)
        )
        if topup is not None:
            return "A top-up of the wallet", f"/dashboard/customers/{payment.client_id}"
        registration = await self.session.scalar(
            select(Registration).where(Registration.payment_id == payment.id)
        )
        if registration is not None:
            paid = await self.session.get(PaidMeeting, registration.paid_meeting_id)
            return (f"A paid meeting's registration ({registration.name})",
                    f"/dashboard/meetings/{paid.room_id}/paid" if paid else None)  # fmt: skip
        if payment.source_id:
            return f"Live chat ({payment.source_id})", None
        return payment.description or "A payment made through the API", None

    async def requests(self, business_id: str, references: Sequence[str]
                       ) -> Sequence[GatewayRequest]:  # fmt: skip
        if not references:
            return []
        stmt = select(GatewayRequest).where(
            GatewayRequest.business_id == business_id, GatewayRequest.reference.in_(references)
        )
        return (await self.session.scalars(stmt)).all()


class ReceivablesService:
    def __init__(self, session: AsyncSession, ledger: Ledger, clients: ClientsService,
                 wallets: WalletsService, payments: PaymentsService) -> None:  # fmt: skip
        self._repo = ReceivablesRepository(session)
        self._payments = payments
        self._ledger = ledger
        self._clients = clients
        self._wallets = wallets

    async def account(self, biz: Business, client_id: str) -> Account:
        client = await self._clients.view(biz.id, client_id)
        cur = biz.default_currency
        owed = await self._ledger.balance(AccountRef("client_receivable", cur, biz.id,
                                                     client.client.id))  # fmt: skip
        bills = await self._repo.bills(biz.id, client.client.id)
        wallet = await self._wallets.view(biz, client.client.id)
        timeline = await self._timeline(biz, client.client.id, bills, wallet)
        return Account(client, cur, owed, [b for b in bills if b.status in OPEN], wallet,
                       timeline)  # fmt: skip

    async def payment(self, biz: Business, payment_id: str) -> PaymentDetail:
        view = await self._payments.get(biz.id, payment_id)
        p = view.payment
        client = await self._clients.get(biz.id, p.client_id)
        words, link = await self._repo.paid_for(p)
        refs = [p.id] + ([p.gateway_charge_id] if p.gateway_charge_id else [])
        requests = sorted(await self._repo.requests(biz.id, refs), key=lambda r: r.created_at)
        cancelled = await self._repo.cancellations([p.id])
        return PaymentDetail(view, client.name, words, link, requests,
                             cancelled[0] if cancelled else None)  # fmt: skip

    async def delete_customer(self, biz: Business, client_id: str) -> None:
        """Delete the client (its cards detached at the gateway), once it owes nothing and
        its wallet is empty."""
        account = await self.account(biz, client_id)
        if account.receivable:
            raise Conflict("This customer still owes money: settle, cancel or write off its "
                           "bills first.", code="customer_owes")  # fmt: skip
        if account.wallet.balance:
            raise Conflict("This customer's wallet holds credit: spend or refund it first.",
                           code="customer_has_credit")  # fmt: skip
        await self._clients.delete(biz.id, client_id)

    async def _timeline(self, biz: Business, client_id: str, bills: Sequence[Bill],
                        wallet: WalletView) -> list[Event]:  # fmt: skip
        events: list[Event] = []
        by_id = {b.id: b for b in bills}
        for b in bills:
            events.append(Event(b.created_at, "bill_issued", f"Bill {b.reference} issued, due "
                                f"{b.due_on.isoformat()}", b.amount, b.id))  # fmt: skip
            if b.status in (BillStatus.CANCELLED, BillStatus.WRITTEN_OFF):
                words = "cancelled" if b.status == BillStatus.CANCELLED else "written off"
                events.append(Event(b.updated_at, f"bill_{b.status}",
                                    f"Bill {b.reference} {words}", None, b.id))  # fmt: skip
        attempts = await self._repo.attempts(list(by_id))
        payments = await self._repo.payments(biz.id, client_id)
        refs = [a.payment_id for a in attempts if a.payment_id] + [p.id for p in payments]
        requests: dict[str, list[GatewayRequest]] = {}
        for req in await self._repo.requests(biz.id, sorted(set(refs))):
            requests.setdefault(req.reference, []).append(req)
        for a in attempts:
            bill = by_id[a.bill_id]
            tried = sorted(requests.get(a.payment_id or "", []), key=lambda q: q.created_at)
            last = tried[-1] if tried else None
            events.append(Event(
                a.finished_at or a.created_at, "attempt",
                f"Charge {a.number} of bill {bill.reference}: {a.status}"
                + (f" ({a.decline_code})" if a.decline_code else ""), a.amount, a.bill_id,
                {"payment_id": a.payment_id, "status": a.status, "decline_code": a.decline_code,
                 "gateway_requests": len(tried),
                 "gateway_outcome": last.outcome if last else None,
                 "gateway_error": (last.error_code or last.decline_code) if last else None,
                 "gateway_request_id": last.id if last else None}))  # fmt: skip
        for p in payments:
            events.append(
                Event(
                    p.created_at,
                    "payment",
                    f"Payment {p.description or p.id}: {p.status}",
                    p.amount,
                    p.id,
                    {"captured": p.amount_captured, "refunded": p.amount_refunded},
                )
            )
        ids = [p.id for p in payments]
        for r in await self._repo.refunds(ids):
            events.append(Event(r.created_at, "refund", f"Refund ({r.reason or 'no reason'})",
                                r.amount, r.payment_id))  # fmt: skip
        for c in await self._repo.cancellations(ids):
            events.append(Event(c.created_at, "cancellation",
                                f"Cancelled as {c.type_name} ({c.refund_percent} % refunded)",
                                c.refunded, c.payment_id))  # fmt: skip
        said = {"topup": "Wallet topped up", "credit": "Credit added to the wallet",
                 "spent": "Paid from the wallet"}  # fmt: skip
        for m in wallet.movements:
            events.append(Event(m.created_at, f"wallet_{m.kind}", said.get(m.kind, m.kind)
                                + (f": {m.note}" if m.note else ""), m.amount, m.id,
                                {"bill_id": m.bill_id, "payment_id": m.payment_id}))  # fmt: skip
        events.sort(key=lambda e: e.at, reverse=True)
        return events[:TIMELINE]
