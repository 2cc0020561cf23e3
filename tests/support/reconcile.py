"""Reconciliation for tests: does our ledger agree with the gateway's own records?

``disagreements`` compares, for one business, what the ledger and our payments say with
what the sandbox gateway holds (charges made for the business, by the ``business`` of their
metadata): the ledger's own invariants (``Ledger.verify``), each payment against its charge,
and the totals captured, charged in fees and refunded, per currency. An empty list means
they agree. Money moved by a webhook must leave them agreeing, whatever the webhook said.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fareroom.bootstrap import Context

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


async def disagreements(ctx: Context, business_id: str) -> list[str]:
    """What the ledger, our payments and the sandbox disagree on for ``business_id``."""
    assert ctx.sandbox is not None, "reconciliation reads the sandbox's records"
    charges = await ctx.sandbox.charges(business_id=business_id)
    async with ctx.unit_of_work() as s:
        problems = list(await s.ledger.verify())
        summary = await s.ledger.business_summary(business_id)
        views = await s.payments.list(business_id, limit=1_000)
    problems += _payment_problems([v.payment for v in views], {ch["id"]: ch for ch in charges})
    theirs = _gateway_totals(charges)
    for currency in sorted(set(summary) | set(theirs)):
        for total in TOTALS:
            ledger = summary.get(currency, {}).get(total, 0)
            gateway = theirs[currency][total] if currency in theirs else 0
            if ledger != gateway:
                problems.append(f"{currency} {total}: ledger {ledger} != gateway {gateway}")
    return problems
