"""A client's account receivable through the API: what it owes from the ledger, how it pays,
and the timeline of its bills, charge attempts (with the gateway request behind each),
payments, refunds and wallet movements; another business sees none of it."""

from __future__ import annotations

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from tests.billing.test_runs import DECLINES, _bill, _drain, _get
from tests.conftest import Tenant


async def test_the_account_shows_what_is_owed_and_everything_that_happened(
    ctx: Context, tenant: Tenant, other_tenant: Tenant, clock: FrozenClock
) -> None:
    ada = await tenant.client("Ada", number=DECLINES)
    bill = await _bill(tenant, ada, 5_000, clock.now().date(), "AR-1")
    await _bill(tenant, ada, 2_500, clock.now().date(), "AR-2", tag="later")
    await tenant.api.post(
        "/api/v1/payment-runs",
        json={
            "due_on_or_before": clock.now().date().isoformat(),
            "max_amount": 5_000,
            "min_amount": 5_000,
        },
    )
    await _drain(ctx)
    clock.advance(minutes=5)
    await tenant.api.post(f"/api/v1/clients/{ada['id']}/wallet/credit",
                          json={"amount": 700, "note": "sorry"})  # fmt: skip
    account = await _get(tenant, f"/api/v1/clients/{ada['id']}/account")
    assert (account["receivable"], account["currency"]) == (7_500, "EUR")
    assert sorted(b["reference"] for b in account["open_bills"]) == ["AR-1", "AR-2"]
    assert account["wallet"]["balance"] == 700 and account["pay_with"] == "card"
    assert [c["last4"] for c in account["cards"]] == ["0341"]
    kinds = [e["kind"] for e in account["timeline"]]
    assert kinds[0] == "wallet_credit" and kinds.count("bill_issued") == 2
    attempt = next(e for e in account["timeline"] if e["kind"] == "attempt")
    assert attempt["ref"] == bill["id"] and attempt["amount"] == 5_000
    assert attempt["detail"]["decline_code"] == "generic_decline"
    assert attempt["detail"]["gateway_requests"] == 1
    assert (attempt["detail"]["gateway_outcome"], attempt["detail"]["gateway_error"]) == (
        "error", "card_declined")  # fmt: skip
    assert attempt["detail"]["gateway_request_id"]
    r = await other_tenant.api.get(f"/api/v1/clients/{ada['id']}/account")
    assert (r.status_code, r.json()["code"]) == (404, "client_not_found")
