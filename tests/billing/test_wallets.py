"""Wallets and cancellation types through the API, on the frozen clock: a top-up credits only
once its payment succeeded; a bill paid from the wallet first; a charge that crosses the
threshold tops the wallet up to its target in one charge; a declined top-up is mailed and
tried again on the schedule; cancellation types refunding 100 %, 50 % and 0 %; bad input
refused, changing nothing."""

from __future__ import annotations

from datetime import timedelta

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from fareroom.ledger.service import AccountRef, business
from fareroom.mail.outbox import Outbox
from tests.billing.test_runs import DECLINES, _bill, _drain, _get, _net, _work
from tests.conftest import Tenant


async def _wallet_books(ctx: Context, t: Tenant, client_id: str) -> tuple[int, int]:
    """The client's wallet and the business's wallets issued, from the ledger."""
    async with ctx.unit_of_work() as s:
        assert await s.ledger.verify() == []
        return (await s.ledger.balance(AccountRef("client_wallet", "EUR", t.id, client_id)),
                await s.ledger.balance(business("wallets_issued", "EUR", t.id)))  # fmt: skip


async def test_a_top_up_credits_the_wallet_once_its_payment_succeeded(
    ctx: Context, tenant: Tenant
) -> None:
    ada = await tenant.client("Ada")
    r = await tenant.api.post(f"/api/v1/clients/{ada['id']}/wallet/top-up", json={"amount": 5_000},
                              headers={"Idempotency-Key": "top-1"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["balance"], [m["kind"] for m in r.json()["movements"]]) == (5_000, ["topup"])
    payment_id = r.json()["movements"][0]["payment_id"]
    again = await tenant.api.post(
        f"/api/v1/clients/{ada['id']}/wallet/top-up",
        json={"amount": 5_000},
        headers={"Idempotency-Key": "top-1"},
    )
    assert again.json()["balance"] == 5_000  # the same top-up, once
    payment = await _get(tenant, f"/api/v1/payments/{payment_id}")
    assert (payment["amount_captured"], payment["status"]) == (5_000, "succeeded")
    assert await _wallet_books(ctx, tenant, ada["id"]) == (5_000, 5_000)
    bob = await tenant.client("Bob", number=DECLINES)
    declined = await tenant.api.post(f"/api/v1/clients/{bob['id']}/wallet/top-up",
                                     json={"amount": 5_000})  # fmt: skip
    assert declined.status_code == 402, declined.text
    assert (await _get(tenant, f"/api/v1/clients/{bob['id']}/wallet"))["balance"] == 0
    for amount, code in ((49, "amount_too_small"), (0, "amount_too_small")):
        r = await tenant.api.post(f"/api/v1/clients/{ada['id']}/wallet/top-up",
                                  json={"amount": amount})  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert await _wallet_books(ctx, tenant, ada["id"]) == (5_000, 5_000)
    assert await tenant.balance() == {**await tenant.balance(), "available": _net(5_000)}


async def test_a_charge_below_the_threshold_tops_the_wallet_up_to_its_target_in_one_charge(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    ada = await tenant.client("Ada")
    base = f"/api/v1/clients/{ada['id']}"
    await tenant.api.post(f"{base}/wallet/top-up", json={"amount": 5_000})
    r = await tenant.api.put(f"{base}/wallet/auto-top-up", json={"threshold": 2_000,
                                                                "target": 6_000})  # fmt: skip
    assert r.status_code == 200, r.text
    r = await tenant.api.put(f"{base}/payment-preference", json={"pay_with": "wallet_first"})
    assert (r.status_code, r.json()["pay_with"]) == (200, "wallet_first")
    small = await _bill(tenant, ada, 4_000, clock.now().date(), "WAL-1")
    big = await _bill(tenant, ada, 9_000, clock.now().date() + timedelta(days=1), "WAL-2")
    await tenant.api.post(
        "/api/v1/payment-runs", json={"due_on_or_before": clock.now().date().isoformat()}
    )
    await _drain(ctx)  # the run, then the top-up its charge deferred
    got = await _get(tenant, f"/api/v1/bills/{small['id']}")
    assert (got["status"], got["attempts"]) == ("paid", [])  # the wallet paid it all
    wallet = await _get(tenant, f"{base}/wallet")
    # 5 000 - 4 000 = 1 000, below 2 000: one top-up of 5 000 brings it back to 6 000
    assert wallet["balance"] == 6_000
    assert [(m["kind"], m["amount"]) for m in wallet["movements"]] == [
        ("topup", 5_000), ("spent", -4_000), ("topup", 5_000)]  # fmt: skip
    # a bill larger than the wallet: the wallet first, the card for the rest
    clock.advance(days=1)
    await tenant.api.post("/api/v1/payment-runs", json={})
    await _drain(ctx)
    got = await _get(tenant, f"/api/v1/bills/{big['id']}")
    assert (got["status"], [(a["amount"], a["status"]) for a in got["attempts"]]) == (
        "paid", [(3_000, "succeeded")])  # fmt: skip
    wallet = await _get(tenant, f"{base}/wallet")
    assert wallet["balance"] == 6_000  # emptied by the bill, then topped up to its target
    assert [(m["kind"], m["amount"]) for m in wallet["movements"]][:2] == [
        ("topup", 6_000), ("spent", -6_000)]  # fmt: skip
    assert await _wallet_books(ctx, tenant, ada["id"]) == (6_000, 6_000)
    card_charges = [5_000, 5_000, 3_000, 6_000]
    assert await tenant.balance() == {
        **await tenant.balance(),
        "available": sum(_net(a) for a in card_charges),
    }


async def test_a_declined_top_up_is_mailed_and_tried_again_on_the_schedule(
    ctx: Context, tenant: Tenant, clock: FrozenClock
) -> None:
    ada = await tenant.client("Ada", number=DECLINES)
    base = f"/api/v1/clients/{ada['id']}"
    r = await tenant.api.post(f"{base}/wallet/credit", json={"amount": 3_000, "note": "welcome"})
    assert (r.status_code, r.json()["balance"]) == (201, 3_000)
    await tenant.api.put(f"{base}/wallet/auto-top-up", json={"threshold": 2_000, "target": 5_000})
    await tenant.api.put(f"{base}/payment-preference", json={"pay_with": "wallet_first"})
    bill = await _bill(tenant, ada, 2_000, clock.now().date(), "DEC-1")
    await tenant.api.post("/api/v1/payment-runs", json={})
    await _drain(ctx)
    assert (await _get(tenant, f"/api/v1/bills/{bill['id']}"))["status"] == "paid"
    wallet = await _get(tenant, f"{base}/wallet")
    assert (wallet["balance"], wallet["failures"]) == (1_000, 1)
    assert wallet["next_topup_on"] == (clock.now().date() + timedelta(days=3)).isoformat()
    async with ctx.unit_of_work() as s:
        wallet_id = (await s.wallets.wallet(tenant.business, ada["id"])).id
        mails = await Outbox(s.session, ctx.clock).for_reference(wallet_id)
    assert [m.subject for m in mails] == [f"Your {tenant.business.name} wallet could not be "
                                          "topped up"]  # fmt: skip
    card = await tenant.card(ada["id"])
    await tenant.api.put(
        f"{base}/payment-preference", json={"pay_with": "wallet_first", "card_id": card["id"]}
    )
    clock.advance(days=2)
    await _work(ctx)
    assert (await _get(tenant, f"{base}/wallet"))["balance"] == 1_000  # not yet
    clock.advance(days=1)
    await _work(ctx)
    wallet = await _get(tenant, f"{base}/wallet")
    assert (wallet["balance"], wallet["failures"], wallet["next_topup_on"]) == (5_000, 0, None)
    assert wallet["movements"][0]["kind"] == "topup" and wallet["movements"][0]["amount"] == 4_000
    assert await _wallet_books(ctx, tenant, ada["id"]) == (5_000, 5_000)


async def test_cancellation_types_refund_all_half_or_nothing_of_a_payment(
    ctx: Context, tenant: Tenant, other_tenant: Tenant
) -> None:
    ada = await tenant.client("Ada")
    types = {}
    for name, percent in (("Cancelled by us", 100), ("Late cancellation", 50),
                          ("No-show", 0)):  # fmt: skip
        r = await tenant.api.post("/api/v1/cancellation-types",
                                  json={"name": name, "refund_percent": percent})  # fmt: skip
        assert r.status_code == 201, r.text
        types[percent] = r.json()["id"]
    refunded = {}
    for percent, type_id in types.items():
        payment = (await tenant.pay(ada["id"], 10_001)).json()
        r = await tenant.api.post(
            f"/api/v1/payments/{payment['id']}/cancellations",
            json={"cancellation_type_id": type_id, "reason": "asked"},
        )
        assert r.status_code == 201, r.text
        refunded[percent] = r.json()["refunded"]
        got = await _get(tenant, f"/api/v1/payments/{payment['id']}")
        assert got["amount_refunded"] == refunded[percent]
        twice = await tenant.api.post(f"/api/v1/payments/{payment['id']}/cancellations",
                                      json={"cancellation_type_id": type_id})  # fmt: skip
        assert (twice.status_code, twice.json()["code"]) == (409, "payment_cancelled")
    assert refunded == {100: 10_001, 50: 5_001, 0: 0}  # half of 100.01, rounded half up
    # the business bears the refunds (the fees stay taken)
    assert (await tenant.balance())["available"] == 3 * _net(10_001) - 10_001 - 5_001
    # bad input: over 100 %, a name taken, another business's type or payment
    over = await tenant.api.post("/api/v1/cancellation-types",
                                 json={"name": "Generous", "refund_percent": 150})  # fmt: skip
    assert (over.status_code, over.json()["code"]) == (422, "invalid_request")
    taken = await tenant.api.post("/api/v1/cancellation-types",
                                  json={"name": "no-show", "refund_percent": 10})  # fmt: skip
    assert (taken.status_code, taken.json()["code"]) == (409, "name_taken")
    payment = (await tenant.pay(ada["id"], 2_000)).json()
    theirs = await other_tenant.api.post(
        "/api/v1/cancellation-types", json={"name": "Theirs", "refund_percent": 100}
    )
    r = await tenant.api.post(f"/api/v1/payments/{payment['id']}/cancellations",
                              json={"cancellation_type_id": theirs.json()["id"]})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "cancellation_type_not_found")
    r = await other_tenant.api.post(
        f"/api/v1/payments/{payment['id']}/cancellations",
        json={"cancellation_type_id": theirs.json()["id"]},
    )
    assert (r.status_code, r.json()["code"]) == (404, "payment_not_found")
    assert (await _get(tenant, f"/api/v1/payments/{payment['id']}"))["amount_refunded"] == 0
    listed = (await tenant.api.get("/api/v1/cancellation-types")).json()
    assert [t["refund_percent"] for t in listed] == [100, 50, 0]
