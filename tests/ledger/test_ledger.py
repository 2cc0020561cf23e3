"""The ledger's rules, with worked examples, on the real database."""

from __future__ import annotations

import asyncio

import pytest

from fareroom.bootstrap import Context
from fareroom.ledger.service import AccountRef, InsufficientFunds, business, platform
from tests.conftest import Tenant


async def test_a_transfer_must_balance_and_keep_one_currency(ctx: Context, tenant: Tenant) -> None:
    async with ctx.unit_of_work() as s:
        with pytest.raises(ValueError, match="unbalanced"):
            await s.ledger.post(
                kind="test",
                reference="x",
                currency="EUR",
                legs=[
                    (platform("gateway_funds", "EUR"), 100),
                    (business("business_balance", "EUR", tenant.id), -99),
                ],
            )
        with pytest.raises(Exception, match="mix currencies"):
            await s.ledger.post(
                kind="test",
                reference="x",
                currency="EUR",
                legs=[
                    (platform("gateway_funds", "EUR"), 100),
                    (business("business_balance", "USD", tenant.id), -100),
                ],
            )


async def test_worked_example_charge_refund_payout(ctx: Context, tenant: Tenant) -> None:
    """100.00 paid, 10.00 platform fee, 3.20 processing fee borne by the business, 30.00
    refunded, 50.00 paid out: the business has 6.80 left; every account agrees."""
    eur, bid = "EUR", tenant.id
    bal = business("business_balance", eur, bid)
    async with ctx.unit_of_work() as s:
        await s.ledger.post(
            kind="payment_captured",
            reference="p1",
            currency=eur,
            business_id=bid,
            legs=[
                (platform("gateway_funds", eur), 9_680),
                (platform("processing_fees", eur), 320),
                (platform("platform_fee_revenue", eur), -1_000),
                (bal, -8_680),
                (platform("processing_fees_recharged", eur), -320),
            ],
        )
        await s.ledger.post(
            kind="payment_refunded",
            reference="r1",
            currency=eur,
            business_id=bid,
            legs=[(bal, 3_000), (platform("gateway_funds", eur), -3_000)],
        )
        with pytest.raises(InsufficientFunds):
            await s.ledger.post(
                kind="payout_paid",
                reference="po1",
                currency=eur,
                business_id=bid,
                floors=[bal],
                legs=[(bal, 5_681), (platform("gateway_funds", eur), -5_681)],
            )
    async with ctx.unit_of_work() as s:
        assert await s.ledger.balance(bal) == 5_680  # the refused payout wrote nothing
        await s.ledger.post(
            kind="payout_paid",
            reference="po2",
            currency=eur,
            business_id=bid,
            floors=[bal],
            legs=[(bal, 5_000), (platform("gateway_funds", eur), -5_000)],
        )
    async with ctx.unit_of_work() as s:
        assert await s.ledger.balance(bal) == 680
        summary = (await s.ledger.business_summary(bid))[eur]
        assert summary == {
            "available": 680,
            "gross": 10_000,
            "platform_fees": 1_000,
            "processing_fees": 320,
            "refunds": 3_000,
            "payouts": 5_000,
            "net": 5_680,
        }
        assert await s.ledger.verify() == []


async def test_concurrent_postings_on_shared_accounts_all_land(
    ctx: Context, tenant: Tenant
) -> None:
    """40 transfers at once over the same accounts (one of them striped, as platform accounts
    are): none is lost, nothing deadlocks, every balance equals its entries."""
    eur = "EUR"
    a = business("business_balance", eur, tenant.id)
    b = AccountRef("client_wallet", eur, tenant.id, "conc")
    fee = platform("platform_fee_revenue", eur)
    async with ctx.unit_of_work() as s:
        start_fee = await s.ledger.balance(fee)

    async def one(i: int) -> None:
        legs = [(a, -100), (b, 90), (fee, 10)] if i % 2 else [(b, -50), (a, 45), (fee, 5)]
        async with ctx.unit_of_work() as s:
            await s.ledger.post(
                kind="test", reference=f"c{i}", currency=eur, business_id=tenant.id, legs=legs
            )

    await asyncio.gather(*(one(i) for i in range(40)))
    async with ctx.unit_of_work() as s:
        assert await s.ledger.balance(a) == 20 * 100 - 20 * 45  # credit-normal
        assert await s.ledger.balance(b) == -(20 * 90 - 20 * 50)  # credit-normal wallet
        assert await s.ledger.balance(fee) - start_fee == -(20 * 10 + 20 * 5)
        assert await s.ledger.verify() == []
