"""Status values are enums in the code and the same plain strings in the database, in the
API's JSON and in the gateway port's vocabulary."""

from __future__ import annotations

from typing import Any, get_args, get_type_hints

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from fareroom.bootstrap import Context
from fareroom.gateway.base import AccountResult, ChargeStatus
from fareroom.kit.db import transaction
from fareroom.models.business import ConnectStatus
from fareroom.models.payment import PaymentStatus, RefundStatus
from tests.conftest import Tenant
from tests.payments.test_webhooks import _event, _post, _secret


def test_a_payment_has_the_states_of_the_gateways_charge_and_a_business_those_of_its_account(
) -> None:  # fmt: skip
    assert set(get_args(ChargeStatus)) == set(PaymentStatus)
    account = set(get_args(get_type_hints(AccountResult)["status"]))
    assert account == set(ConnectStatus) - {ConnectStatus.NONE}


async def test_statuses_are_stored_and_answered_as_their_plain_strings(
    tenant: Tenant, ctx: Context
) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 1_000, capture=False)).json()
    assert hold["status"] == "requires_capture"
    async with transaction(ctx.sessions) as session:
        stored = await session.scalar(
            text("SELECT status FROM payments WHERE id = :id"), {"id": hold["id"]}
        )
        connect = await session.scalar(
            text("SELECT connect_status FROM businesses WHERE id = :id"), {"id": tenant.id}
        )
    assert (type(stored), stored, connect) == (str, "requires_capture", "none")
    async with ctx.unit_of_work(tenant.id) as s:
        payment = (await s.payments.get(tenant.id, hold["id"])).payment
        assert payment.status is PaymentStatus.REQUIRES_CAPTURE  # read back as the member


async def test_a_status_that_is_none_of_the_values_is_never_written(
    tenant: Tenant, ctx: Context
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 1_000)).json()
    with pytest.raises(StatementError, match="not among the defined enum values"):
        async with ctx.unit_of_work(tenant.id) as s:
            payment = (await s.payments.get(tenant.id, paid["id"])).payment
            payment.status = "refunded"  # type: ignore[assignment]
            await s.session.flush()
    assert (await tenant.api.get(f"/api/v1/payments/{paid['id']}")).json()["status"] == (
        "succeeded"
    )


async def test_a_refund_event_with_a_status_no_refund_has_is_rejected(
    tenant: Tenant, ctx: Context, http: Any
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 3_000)).json()
    await tenant.api.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 500})
    async with ctx.unit_of_work(tenant.id) as s:
        refund = (await s.payments.get(tenant.id, paid["id"])).refunds[0]
    obj = {"id": refund.gateway_refund_id, "amount": 500, "currency": "eur"}
    r = await _post(http, _event("charge.refund.updated", {**obj, "status": "exploded"}),
                    await _secret(ctx))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "event_rejected")
    r = await _post(http, _event("charge.refund.updated", {**obj, "status": "failed"}),
                    await _secret(ctx))  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "refund failed"
    async with ctx.unit_of_work(tenant.id) as s:
        assert (await s.payments.get(tenant.id, paid["id"])).refunds[0].status is (
            RefundStatus.FAILED
        )
