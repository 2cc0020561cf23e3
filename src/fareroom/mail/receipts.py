"""The receipt to the client and the revenue notification to the agent.

- A **chat** (a metered session) gets one receipt and one notification, written when the
  session is settled: paid in full, or abandoned after a failed charge (a failed final
  charge waits for the card that pays it, or for the agent's "hang up anyway"). They list
  the room, the agent, the chat's total and chargeable time, each collection of the
  meter and each payment request paid during the chat, the total paid and what was left
  unpaid. Each is written once, under a unique key naming the session.
- A **payment request** paid outside a chat, or after its chat was settled, gets its own.

Mails come from the business ("<business> via Fareroom"), and name no internal ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fareroom.kit.money import Money
from fareroom.mail.outbox import Outbox
from fareroom.models.business import User
from fareroom.models.chat import PaymentRequest
from fareroom.models.client import Client
from fareroom.models.mail import MailKind
from fareroom.models.payment import Payment

END_REASONS = {"hangup": "hung up", "timeout": "a party was offline too long",
               "payment_failed": "a charge failed"}  # fmt: skip


@dataclass(frozen=True)
class Paid:
    """One thing paid, as a receipt lists it: what for, how much, when, with which card
    (a collection of the meter may capture the hold and charge the card: one line)."""

    what: str
    payments: list[Payment]
    at: datetime
    card: str  # "Visa •••• 4242"

    def total(self, field: str = "amount_captured") -> int:
        return sum(getattr(p, field) for p in self.payments)

    def line(self) -> str:
        amount = Money(self.total(), self.payments[0].currency).format()
        return f"  {self.at:%H:%M} UTC  {self.what}: {amount}, {self.card}"


@dataclass(frozen=True)
class ChatSummary:
    """What one chat's mails tell; ``session_id`` only keys them, it is never printed."""

    session_id: str
    business_name: str
    room_name: str
    agent: User | None
    client: Client
    currency: str
    opened_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    chargeable_seconds: int
    collections: list[Paid]
    requests: list[Paid]
    abandoned: int

    @property
    def paid(self) -> list[Paid]:
        return self.collections + self.requests

    def money(self, amount: int) -> str:
        return Money(amount, self.currency).format()

    @property
    def total(self) -> int:
        return sum(p.total() for p in self.paid)

    def agent_name(self) -> str:
        return (self.agent.name or self.agent.email) if self.agent else "our team"

    def facts(self) -> str:
        ended = self.ended_at or self.opened_at
        total_seconds = int((ended - self.opened_at).total_seconds())
        reason = END_REASONS.get(self.end_reason or "", self.end_reason or "ended")
        return (f"Chat: {self.room_name}, with {self.agent_name()}\n"
                f"Date: {self.opened_at:%Y-%m-%d %H:%M} to {ended:%H:%M} UTC ({reason})\n"
                f"Duration: {duration(total_seconds)} in all, "
                f"{duration(self.chargeable_seconds)} charged by the minute\n")  # fmt: skip

    def lines(self) -> str:
        parts = []
        if self.collections:
            parts.append("Chat time:\n" + "\n".join(p.line() for p in self.collections))
        if self.requests:
            parts.append("Payment requests:\n" + "\n".join(p.line() for p in self.requests))
        if not parts:
            parts.append("Nothing to pay: the hold on your card was released.")
        unpaid = f"\nLeft unpaid: {self.money(self.abandoned)}" if self.abandoned else ""
        return "\n\n".join(parts) + f"\n\nTotal paid: {self.money(self.total)}{unpaid}\n"


def items_of(request: PaymentRequest) -> str:
    """A payment request's lines in words: "2 × Consultation, 1 × Report"."""
    return ", ".join(f"{i['quantity']} × {i['description']}" for i in request.items)


def duration(seconds: int) -> str:
    h, rest = divmod(max(0, seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


async def queue_chat_mails(outbox: Outbox, chat: ChatSummary) -> None:
    """The chat's receipt and the agent's notification, each once (keyed by the session)."""
    client = chat.client
    await outbox.queue(
        business_id=client.business_id, to=client.email, kind=MailKind.RECEIPT,
        reference=chat.session_id, sender_name=chat.business_name,
        unique_key=f"chat-receipt:{chat.session_id}",
        subject=f"Your receipt from {chat.business_name}: {chat.money(chat.total)}",
        body=(f"Hello {client.name},\n\nThank you for your chat with {chat.business_name}.\n\n"
              f"{chat.facts()}\n{chat.lines()}\nThank you.\n"),
    )  # fmt: skip
    if chat.agent is not None:
        await outbox.queue(
            business_id=client.business_id, to=chat.agent.email, kind=MailKind.AGENT_REVENUE,
            reference=chat.session_id, sender_name=chat.business_name,
            unique_key=f"chat-revenue:{chat.session_id}",
            subject=f"New revenue: {chat.money(chat.total)} from {client.name}",
            body=f"{client.name}'s chat.\n\n{chat.facts()}\n{chat.lines()}\n{_fees(chat.paid)}",
        )  # fmt: skip


def _fees(paid: list[Paid]) -> str:
    currency = paid[0].payments[0].currency if paid else "EUR"

    def total(field: str) -> str:
        return Money(sum(p.total(field) for p in paid), currency).format()

    return (f"Platform fee: {total('platform_fee')}; processing fee: "
            f"{total('processing_fee')}; "
            f"net to the business: {total('business_net')}.\n")  # fmt: skip


async def queue_receipts(
    outbox: Outbox, *, payment: Payment, client: Client, agent: User | None, what: str,
    business_name: str, card: str,
) -> None:  # fmt: skip
    """The receipt and notification of one payment (a request paid outside a chat)."""
    paid = Paid(what, [payment], payment.updated_at, card)
    amount = Money(payment.amount_captured, payment.currency).format()
    await outbox.queue(
        business_id=payment.business_id, to=client.email, kind=MailKind.RECEIPT,
        reference=payment.id, sender_name=business_name, unique_key=f"receipt:{payment.id}",
        subject=f"Your receipt from {business_name}: {amount}",
        body=(f"Hello {client.name},\n\nYou paid {amount} to {business_name}.\n\n"
              f"Date: {payment.updated_at:%Y-%m-%d} UTC\n{paid.line()}\n\nThank you.\n"),
    )  # fmt: skip
    if agent is not None:
        await outbox.queue(
            business_id=payment.business_id, to=agent.email, kind=MailKind.AGENT_REVENUE,
            reference=payment.id, sender_name=business_name,
            unique_key=f"revenue:{payment.id}",
            subject=f"New revenue: {amount} from {client.name}",
            body=f"{client.name} paid {amount}.\n{paid.line()}\n{_fees([paid])}",
        )  # fmt: skip
