"""Property tests: random sequences of charges, holds, captures, cancels, refunds and payouts.

Whatever the sequence, the ledger balances, every cached balance equals the sum of its
entries, nothing is refunded beyond what was captured, no capture exceeds its hold, and the
business's balance is what its payments say it should be.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fareroom.bootstrap import Context
from fareroom.kit.errors import FareroomError

amounts = st.integers(min_value=1, max_value=20_000)
ops = st.lists(st.one_of(
    st.tuples(st.just("charge"), st.integers(50, 20_000), st.booleans(),
              st.sampled_from(["service", "goods"])),
    st.tuples(st.just("capture"), st.integers(0, 9), amounts),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("refund"), st.integers(0, 9), amounts),
    st.tuples(st.just("payout"), amounts),
), min_size=1, max_size=14)  # fmt: skip


async def _run(ctx: Context, steps: list[tuple[Any, ...]]) -> None:
    async with ctx.unit_of_work() as s:
        made = await s.accounts.create_business(
            name="Prop",
            owner_email=f"prop-{uuid.uuid4().hex}@x.test",
            owner_password="long password",
        )
        biz = made.business
        client = await s.clients.create(biz.id, name="P", email="p@example.com")
    assert ctx.sandbox is not None
    token = await ctx.sandbox.tokenize(number="4242424242424242", exp_month=1, exp_year=2040)
    async with ctx.unit_of_work(biz.id) as s:
        await s.clients.add_card(biz.id, client.id, token=token)
    payments: list[str] = []
    paid_out = 0
    for step in steps:
        try:
            async with ctx.unit_of_work(biz.id) as s:
                kind = step[0]
                if kind == "charge":
                    p = await s.payments.charge(
                        biz,
                        client_id=client.id,
                        card_id=None,
                        amount=step[1],
                        currency="EUR",
                        category=step[3],
                        capture=step[2],
                    )
                    payments.append(p.id)
                elif kind == "payout":
                    await s.payments.payout(biz, amount=step[1])
                    paid_out += step[1]
                elif payments:
                    pid = payments[step[1] % len(payments)]
                    if kind == "capture":
                        await s.payments.capture(biz, pid, amount=step[2])
                    elif kind == "cancel":
                        await s.payments.cancel(biz, pid)
                    else:
                        await s.payments.refund(biz, pid, amount=step[2])
        except FareroomError:
            pass  # a refused step must change nothing; the checks below prove it did not
    async with ctx.unit_of_work(biz.id) as s:
        assert await s.ledger.verify() == []
        views = await s.payments.list(biz.id, limit=100)
        summary = (await s.ledger.business_summary(biz.id)).get("EUR")
    expected_net = 0
    for v in views:
        p = v.payment
        assert 0 <= p.amount_refunded <= p.amount_captured <= p.amount
        assert sum(r.amount for r in v.refunds) == p.amount_refunded
        if p.status in ("requires_capture", "canceled"):
            assert p.amount_captured == 0
        expected_net += p.business_net - p.amount_refunded
    available = summary["available"] if summary else 0
    assert available == expected_net - paid_out
    assert available >= 0 or any(v.refunds for v in views)  # only refunds may go negative
    if summary:
        assert summary["payouts"] == paid_out


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=ops)
async def test_any_sequence_of_money_operations_keeps_the_books_right(
    ctx: Context, steps: list[tuple[Any, ...]]
) -> None:
    await _run(ctx, steps)
