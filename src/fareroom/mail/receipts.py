"""The receipt to the client and the revenue notification to the agent, for every payment
made in a chat (a collection of a metered session, or a paid payment request)."""

from __future__ import annotations

from fareroom.kit.money import Money
from fareroom.mail.outbox import Outbox
from fareroom.models.business import User
from fareroom.models.client import Client
from fareroom.models.payment import Payment


async def queue_receipts(
    outbox: Outbox, *, payment: Payment, client: Client, agent: User | None, what: str,
    business_name: str,
) -> None:  # fmt: skip
    paid = Money(payment.amount_captured, payment.currency)
    await outbox.queue(
        business_id=payment.business_id, to=client.email, kind="receipt", reference=payment.id,
        subject=f"Your receipt from {business_name}: {paid.format()}",
        body=(f"Hello {client.name},\n\nYou paid {paid.format()} to {business_name} for {what}.\n"
              f"Receipt: {payment.id}\nDate: {payment.updated_at:%Y-%m-%d %H:%M} UTC\n\n"
              "Thank you.\n"),
    )  # fmt: skip
    if agent is not None:
        net = Money(payment.business_net, payment.currency).format()
        platform_fee = Money(payment.platform_fee, payment.currency).format()
        processing_fee = Money(payment.processing_fee, payment.currency).format()
        await outbox.queue(
            business_id=payment.business_id, to=agent.email, kind="agent_revenue",
            reference=payment.id, subject=f"New revenue: {paid.format()} from {client.name}",
            body=(f"{client.name} paid {paid.format()} for {what}.\n"
                  f"Platform fee: {platform_fee}; processing fee: {processing_fee}; "
                  f"net to the business: {net}.\nPayment: {payment.id}\n"),
        )  # fmt: skip
