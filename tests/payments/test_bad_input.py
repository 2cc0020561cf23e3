"""Bad input gets a 4xx problem with a code, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant


async def _state(t: Tenant) -> tuple[int, int, dict]:
    payments = (await t.api.get("/api/v1/payments", params={"limit": 100})).json()["data"]
    log = (await t.api.get("/api/v1/gateway-requests", params={"limit": 100})).json()["data"]
    return len(payments), len(log), await t.balance()


@pytest.mark.parametrize(("patch", "status", "code"), [
    ({"amount": 0}, 422, "amount_too_small"),
    ({"amount": -500}, 422, "amount_too_small"),
    ({"amount": 49}, 422, "amount_too_small"),
    ({"amount": 10.5}, 422, "invalid_request"),
    ({"amount": "1000"}, 422, "invalid_request"),
    ({"amount": True}, 422, "invalid_request"),
    ({"amount": 10**30}, 422, "amount_too_large"),
    ({"amount": 100_000_000}, 422, "amount_too_large"),
    ({"currency": "XXX"}, 422, "unsupported_currency"),
    ({"currency": "USD"}, 422, "currency_mismatch"),
    ({"category": "gift"}, 422, "invalid_request"),
    ({"client_id": "cli_doesnotexist"}, 404, "client_not_found"),
    ({"card_id": "card_doesnotexist"}, 404, "card_not_found"),
    ({"surprise": 1}, 422, "invalid_request"),
])  # fmt: skip
async def test_bad_payment_requests_are_refused_and_change_nothing(
    tenant: Tenant, patch: dict[str, Any], status: int, code: str
) -> None:
    client = await tenant.client()
    before = await _state(tenant)
    body = {"client_id": client["id"], "amount": 1_000, "currency": "EUR", **patch}
    r = await tenant.api.post("/api/v1/payments", json=body)
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["code"] == code and problem["status"] == status and problem["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _state(tenant) == before


async def test_malformed_json_is_a_400(tenant: Tenant) -> None:
    r = await tenant.api.post(
        "/api/v1/payments", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"


async def test_missing_or_wrong_api_key_is_a_401(http: Any) -> None:
    r = await http.get("/api/v1/payments")
    assert r.status_code == 401 and r.json()["code"] == "api_key_missing"
    r = await http.get("/api/v1/payments", headers={"Authorization": "Bearer fr_wrong"})
    assert r.status_code == 401 and r.json()["code"] == "api_key_invalid"
    r = await http.get("/api/v1/balance", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_a_declined_card_is_a_402_and_records_no_payment(tenant: Tenant) -> None:
    client = await tenant.client(number="4000000000000341")  # attaches, every charge fails
    before = await _state(tenant)
    r = await tenant.pay(client["id"], 5_000)
    assert r.status_code == 402
    assert r.json()["code"] == "card_declined" and r.json()["decline_code"] == "generic_decline"
    count, log_count, balance = await _state(tenant)
    assert (count, balance) == (before[0], before[2])
    assert log_count == before[1] + 1  # the attempt is logged


@pytest.mark.parametrize(
    ("number", "decline"),
    [("4000000000000002", "generic_decline"), ("4000000000009995", "insufficient_funds")],
)
async def test_cards_declined_on_attach_are_not_saved(tenant: Tenant, number: str,
                                                      decline: str) -> None:  # fmt: skip
    client = await tenant.client(number=None)
    r = await tenant.api.post(
        f"/api/v1/clients/{client['id']}/cards", json={"token": await tenant.token(number)}
    )
    assert r.status_code == 402 and r.json()["decline_code"] == decline
    assert (await tenant.api.get(f"/api/v1/clients/{client['id']}")).json()["cards"] == []


async def test_a_card_needing_authentication_is_a_402_with_its_code(tenant: Tenant) -> None:
    client = await tenant.client(number="4000002500003155")
    r = await tenant.pay(client["id"], 5_000)
    assert r.status_code == 402 and r.json()["code"] == "authentication_required"


@pytest.mark.parametrize("number", ["4111111111111111", "1234", "4242424242424241"])
async def test_the_sandbox_refuses_card_numbers_that_are_not_test_cards(
    tenant: Tenant, number: str
) -> None:
    r = await tenant.api.post(
        "/sandbox/tokens", json={"number": number, "exp_month": 1, "exp_year": 2035}
    )
    assert r.status_code == 422
    assert number not in r.text


async def test_a_token_is_used_once(tenant: Tenant) -> None:
    client = await tenant.client(number=None)
    token = await tenant.token("4242424242424242")
    first = await tenant.api.post(f"/api/v1/clients/{client['id']}/cards", json={"token": token})
    again = await tenant.api.post(f"/api/v1/clients/{client['id']}/cards", json={"token": token})
    assert first.status_code == 201
    assert again.status_code == 422 and again.json()["code"] == "token_used"


async def test_unknown_routes_answer_problem_json(tenant: Tenant) -> None:
    r = await tenant.api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("number", [
    "4242 4242 4242 424³",  # SUPERSCRIPT THREE: str.isdigit() says it is a digit
    "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",  # ARABIC-INDIC digits
    "4242424242424242x",
    "abcdefghijklmnop",
])  # fmt: skip
async def test_a_card_number_of_anything_but_ascii_digits_is_refused(
    tenant: Tenant, number: str
) -> None:
    r = await tenant.api.post("/sandbox/tokens", json={"number": number, "exp_month": 12,
                                                       "exp_year": 2035})  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_card_number" and r.json()["detail"]
