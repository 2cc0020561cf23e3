"""Tenants never see or change each other's data."""

from __future__ import annotations

from tests.conftest import Tenant


async def test_another_business_cannot_read_or_move_my_money(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    client = await tenant.client()
    hold = (await tenant.pay(client["id"], 5_000, capture=False)).json()
    paid = (await tenant.pay(client["id"], 5_000)).json()
    o = other_tenant.api
    probes = [
        await o.get(f"/api/v1/clients/{client['id']}"),
        await o.get(f"/api/v1/payments/{paid['id']}"),
        await o.post(f"/api/v1/payments/{hold['id']}/capture"),
        await o.post(f"/api/v1/payments/{hold['id']}/cancel"),
        await o.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 100}),
        await o.post(
            f"/api/v1/clients/{client['id']}/cards",
            json={"token": await other_tenant.token("4242424242424242")},
        ),
        await o.delete(f"/api/v1/clients/{client['id']}/cards/{client['card_id']}"),
        await o.post(
            "/api/v1/payments", json={"client_id": client["id"], "amount": 1_000, "currency": "EUR"}
        ),
    ]
    assert [p.status_code for p in probes] == [404] * len(probes)
    assert all(client["id"] not in p.text or "No client" in p.text for p in probes)
    assert (await o.get("/api/v1/payments")).json()["data"] == []
    assert (await o.get("/api/v1/clients")).json()["data"] == []
    assert (await o.get("/api/v1/gateway-requests")).json()["data"] == []
    assert (await other_tenant.balance())["available"] == 0
    mine = (await tenant.api.get(f"/api/v1/payments/{hold['id']}")).json()
    assert mine["status"] == "requires_capture"
    assert len((await tenant.api.get(f"/api/v1/clients/{client['id']}")).json()["cards"]) == 1


async def test_cards_can_be_made_default_flagged_for_recurring_and_deleted(
    tenant: Tenant,
) -> None:
    client = await tenant.client()
    second = await tenant.card(client["id"], "5555555555554444")
    assert second["default"] is False and second["brand"] == "mastercard"
    r = await tenant.api.patch(
        f"/api/v1/clients/{client['id']}/cards/{second['id']}",
        json={"default": True, "recurring_authorised": True},
    )
    assert r.status_code == 200 and r.json()["default"] and r.json()["recurring_authorised"]
    r = await tenant.api.delete(f"/api/v1/clients/{client['id']}/cards/{second['id']}")
    assert r.status_code == 204
    view = (await tenant.api.get(f"/api/v1/clients/{client['id']}")).json()
    assert [c["id"] for c in view["cards"]] == [client["card_id"]]
    assert view["default_card_id"] == client["card_id"]
    gone = await tenant.api.delete(f"/api/v1/clients/{client['id']}/cards/{second['id']}")
    assert gone.status_code == 404
