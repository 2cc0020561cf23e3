"""Every gateway request made for a business is in that business's log, failures first of
all: also those of a client's contact form, where no API key says whose they are."""

from __future__ import annotations

from typing import Any

import pytest

from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.support.pages import sign_in
from tests.support.presence import agent_online

TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}


async def _contact_form_hold(http: Any, ctx: Context, tenant: Tenant, number: str) -> Any:
    """A client through the contact form, the terms and a card: the hold's answer."""
    room = (await tenant.api.post("/api/v1/chat-rooms", json={
        "name": "Advice", "terms": "You pay per minute.", "tariff": TARIFF,
        "agent_ids": [tenant.owner_id]})).json()  # fmt: skip
    await agent_online(ctx, tenant.id, tenant.owner_id)
    r = await http.post("/chat/api/visits", json={
        "room_id": room["id"], "name": "Ada", "email": "ada@example.com",
        "question": "Can you help?"})  # fmt: skip
    assert r.status_code == 201, r.text
    token = {"X-Visit-Token": r.json()["token"]}
    assert (await http.post("/chat/api/visit/terms", headers=token)).status_code == 200
    card = await http.post("/sandbox/tokens", json={"number": number, "exp_month": 12,
                                                    "exp_year": 2035})  # fmt: skip
    return await http.post("/chat/api/visit/card", headers=token,
                           json={"token": card.json()["id"]})  # fmt: skip


@pytest.mark.parametrize(("number", "operation", "code"), [
    ("4000000000000341", "create_charge", "generic_decline"),
    ("4000000000009995", "attach_card", "insufficient_funds"),
    ("4000002500003155", "create_charge", "authentication_required"),
])  # fmt: skip
async def test_a_declined_hold_at_the_contact_form_is_in_the_owners_gateway_log(
    http: Any, ctx: Context, tenant: Tenant, number: str, operation: str, code: str
) -> None:
    r = await _contact_form_hold(http, ctx, tenant, number)
    assert r.status_code == 402, r.text
    log = (await tenant.api.get("/api/v1/gateway-requests")).json()["data"]
    failed = [g for g in log if g["outcome"] == "error"]
    assert [g["operation"] for g in failed] == [operation]
    assert code in (failed[0]["decline_code"], failed[0]["error_code"])
    assert {"create_customer", operation} <= {g["operation"] for g in log}
    login = await sign_in(http, tenant.owner_email, tenant.password)
    assert login.status_code == 303
    page = await http.get("/dashboard")
    assert page.status_code == 200 and operation in page.text and code in page.text


async def test_a_hold_placed_at_the_contact_form_is_logged_for_its_business_only(
    http: Any, ctx: Context, tenant: Tenant, other_tenant: Tenant
) -> None:
    r = await _contact_form_hold(http, ctx, tenant, "4242424242424242")
    assert r.status_code == 200, r.text
    ours = (await tenant.api.get("/api/v1/gateway-requests")).json()["data"]
    assert {"create_customer", "attach_card", "create_charge"} <= {g["operation"] for g in ours}
    assert (await other_tenant.api.get("/api/v1/gateway-requests")).json()["data"] == []
