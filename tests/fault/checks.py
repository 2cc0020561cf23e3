"""What must hold once a schedule's jobs have settled (a list of violations; empty: none).

- The ledger is consistent (``Ledger.verify``, once: it covers every business); per business,
  our payments and payouts, the ledger's totals and the gateway's records agree (what
  ``tests.support.reconcile.disagreements`` compares: one charge per payment, no charge
  without a payment), read in one unit of work.
- The gateway paid out nothing we do not know of (its payouts carry no business).
- Per chat session, what it collected is what its payments captured; a paid session
  collected its price; a settled one keeps no hold; nothing is left collecting or pending.
- A paid payment request was captured once, for its total.
- No webhook is left unreceived and no mail unsent.
"""

from __future__ import annotations

from sqlalchemy import func, select

from fareroom.models.mail import OutboxMail
from fareroom.models.payment import Payment
from tests.fault import chat
from tests.fault.template import Business
from tests.fault.world import World
from tests.support.reconcile import compare, gateway_objects, read_books


async def violations(world: World, businesses: list[Business]) -> list[str]:
    ctx = world.ctx
    assert ctx.sandbox is not None
    async with ctx.unit_of_work() as s:  # everything of ours in one read
        found = list(await s.ledger.verify())
        ours = [(await read_books(s, b.id), await chat.records(s, b.id)) for b in businesses]
        unsent = await s.session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.sent_at.is_(None))
        )
    gateway_payouts = await gateway_objects(ctx, "payout")
    for i, (b, (books, records)) in enumerate(zip(businesses, ours, strict=True)):
        charges = await ctx.sandbox.charges(business_id=b.id)
        found += [f"b{i}: {p}" for p in compare(books, charges, gateway_payouts)]
        by_source: dict[str | None, list[Payment]] = {}
        for v in books.payments:
            by_source.setdefault(v.payment.source_id, []).append(v.payment)
        found += _sessions(records, by_source)
        found += _requests(records, by_source)
    payouts = sum(len(books.payouts) for books, _ in ours)
    if len(gateway_payouts) != payouts:
        found.append(f"the gateway made {len(gateway_payouts)} payouts, we know of {payouts}")
    if world.webhooks or await gateway_objects(ctx, "event"):
        found.append("webhooks left undelivered")
    if unsent:
        found.append(f"{unsent} mails left unsent")
    return found


def _sessions(records: chat.Records, by_source: dict[str | None, list[Payment]]) -> list[str]:
    found = []
    for s in records.sessions:
        payments = by_source.get(s.id, [])
        captured = sum(p.amount_captured for p in payments)
        held = [p.id for p in payments if p.status == "requires_capture"]
        where = f"session {s.id} ({s.status})"
        if s.status == "collecting" or s.id in records.pending:
            found.append(f"{where}: a collection is left pending")
        if captured != s.collected:
            found.append(f"{where}: collected {s.collected}, its payments captured {captured}")
        if s.status == "paid" and s.collected != s.final_price:
            found.append(f"{where}: price {s.final_price}, collected {s.collected}")
        if s.status == "abandoned" and s.collected + s.abandoned != s.final_price:
            found.append(f"{where}: price {s.final_price} != collected {s.collected} "
                         f"+ abandoned {s.abandoned}")  # fmt: skip
        if s.status in ("paid", "abandoned") and held:
            found.append(f"{where}: holds left in place: {held}")
        if s.status == "open" and len(held) > 1:
            found.append(f"{where}: {len(held)} holds at once")
    return found


def _requests(records: chat.Records, by_source: dict[str | None, list[Payment]]) -> list[str]:
    found = []
    for r in records.requests:
        taken = [p for p in by_source.get(r.id, []) if p.amount_captured]
        expected = [r.total] if r.status == "paid" else []
        if [p.amount_captured for p in taken] != expected:
            found.append(f"request {r.id} ({r.status}, {r.total}): captured "
                         f"{[p.amount_captured for p in taken]}")  # fmt: skip
    return found
