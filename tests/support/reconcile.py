"""Reconciliation for tests: does our ledger agree with the gateway's own records?

``disagreements`` compares, for one business, what the ledger and our payments say with
what the sandbox gateway holds (charges made for the business, by the ``business`` of their
metadata): the ledger's own invariants (``Ledger.verify``), each payment against its charge,
each charge against a payment (one charge per payment: its idempotency key's intent), each
payout against the gateway's, and the totals captured, charged in fees, refunded and paid
out, per currency. An empty list means they agree. Money moved by a webhook must leave them
agreeing, whatever the webhook said.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from fareroom.bootstrap import Context, Services
from fareroom.kit.db import session_factory, transaction
from fareroom.models.gateway import SandboxObject

TOTALS = ("gross", "processing_fees", "refunds")


def _gateway_totals(charges: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
    for ch in charges:
        if ch["status"] != "succeeded":
            continue
        cur = totals[ch["currency"]]
        cur["gross"] += ch["amount_captured"]
        cur["processing_fees"] += ch.get("fee") or 0
        cur["refunds"] += ch["amount_refunded"]
    return totals


def _payment_problems(payments: list[Any], charges: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for p in payments:
        ch = charges.get(str(p.gateway_charge_id))
        if ch is None:
            problems.append(f"payment {p.id}: the gateway has no charge {p.gateway_charge_id}")
            continue
        ours = (p.status, p.amount_captured, p.processing_fee, p.amount_refunded)
        theirs = (ch["status"], ch["amount_captured"], ch.get("fee") or 0, ch["amount_refunded"])
        if ours != theirs:
            problems.append(f"payment {p.id}: ours {ours} != the gateway's {theirs}")
    return problems


def _charge_problems(charges: list[dict[str, Any]], payment_ids: set[str]) -> list[str]:
    """A charge the gateway made for no payment of ours, or two for one."""
    refs = Counter(str(ch.get("metadata", {}).get("reference")) for ch in charges)
    problems = [f"payment {ref}: the gateway made {n} charges for it"
                for ref, n in sorted(refs.items()) if n > 1]  # fmt: skip
    return problems + [f"the gateway's charge for {ref} is no payment of ours"
                       for ref in sorted(set(refs) - payment_ids)]  # fmt: skip


async def gateway_objects(ctx: Context, kind: str) -> list[dict[str, Any]]:
    """Every object of ``kind`` in the sandbox's store (``payout``, ``charge`` …)."""
    assert ctx.sandbox_engine is not None, "reconciliation reads the sandbox's records"
    async with transaction(session_factory(ctx.sandbox_engine)) as session:
        rows = await session.execute(
            select(SandboxObject.data).where(SandboxObject.kind == kind).order_by(SandboxObject.id)
        )
        return [json.loads(data) for data in rows.scalars()]


def _payout_problems(payouts: list[Any], ledger: dict[str, int],
                     gateway_payouts: list[dict[str, Any]]) -> list[str]:  # fmt: skip
    theirs = {po["id"]: po for po in gateway_payouts}
    problems = []
    for po in payouts:
        found = theirs.get(str(po.gateway_payout_id))
        if found is None or (found["amount"], found["currency"]) != (po.amount, po.currency):
            problems.append(f"payout {po.id}: ours {po.amount} {po.currency} != the gateway's "
                            f"{found and (found['amount'], found['currency'])}")  # fmt: skip
    for currency in sorted(set(ledger) | {po.currency for po in payouts}):
        ours = sum(po.amount for po in payouts if po.currency == currency)
        if ledger.get(currency, 0) != ours:
            problems.append(f"{currency} payouts: ledger {ledger.get(currency, 0)} != ours {ours}")
    return problems


@dataclass(frozen=True)
class Books:
    """What we hold of one business: the ledger's totals per currency, its payments (with
    their refunds) and its payouts."""

    summary: dict[str, dict[str, int]]
    payments: list[Any]  # payment views
    payouts: list[Any]


async def read_books(s: Services, business_id: str) -> Books:
    """``business_id``'s books (every payment, page by page), read in the caller's unit of
    work."""
    payments: list[Any] = []
    while page := await s.payments.list(business_id, limit=1_000, starting_after=payments[-1]
                                        .payment.id if payments else None):  # fmt: skip
        payments += page
    return Books(await s.ledger.business_summary(business_id), payments,
                 list(await s.payments.payouts(business_id, limit=1_000)))  # fmt: skip


def compare(books: Books, charges: list[dict[str, Any]], gateway_payouts: list[dict[str, Any]]
            ) -> list[str]:  # fmt: skip
    """What one business's books and the gateway's records of it (``charges`` made for it;
    ``gateway_payouts``, every payout the gateway made) disagree on."""
    payments = [v.payment for v in books.payments]
    problems = _payment_problems(payments, {ch["id"]: ch for ch in charges})
    problems += _charge_problems(charges, {p.id for p in payments})
    paid_out = {cur: totals.get("payouts", 0) for cur, totals in books.summary.items()}
    problems += _payout_problems(books.payouts, paid_out, gateway_payouts)
    theirs = _gateway_totals(charges)
    for currency in sorted(set(books.summary) | set(theirs)):
        for total in TOTALS:
            ledger = books.summary.get(currency, {}).get(total, 0)
            gateway = theirs[currency][total] if currency in theirs else 0
            if ledger != gateway:
                problems.append(f"{currency} {total}: ledger {ledger} != gateway {gateway}")
    return problems


async def disagreements(ctx: Context, business_id: str) -> list[str]:
    """What the ledger, our payments and the sandbox disagree on for ``business_id``."""
    assert ctx.sandbox is not None, "reconciliation reads the sandbox's records"
    charges = await ctx.sandbox.charges(business_id=business_id)
    async with ctx.unit_of_work() as s:
        problems = list(await s.ledger.verify())
        books = await read_books(s, business_id)
    return problems + compare(books, charges, await gateway_objects(ctx, "payout"))
