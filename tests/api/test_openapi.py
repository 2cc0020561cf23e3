"""The OpenAPI document says what the server accepts and how it answers."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant

PROBLEM = "application/problem+json"


def _body_schema(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    name = ref["$ref"].rsplit("/", 1)[-1]
    return dict(doc["components"]["schemas"][name])


async def test_the_document_refuses_an_email_without_an_at_and_an_amount_under_050(
    http: Any,
) -> None:
    doc = (await http.get("/openapi.json")).json()
    email = _body_schema(doc, "/api/v1/clients")["properties"]["email"]
    assert "@" in email["pattern"] and email["maxLength"] == 254
    amount = _body_schema(doc, "/api/v1/payments")["properties"]["amount"]
    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 50, 99_999_999)
    currency = _body_schema(doc, "/api/v1/payments")["properties"]["currency"]
    assert "EUR" in currency["enum"]


async def test_every_error_an_operation_answers_is_a_documented_problem(http: Any) -> None:
    doc = (await http.get("/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            errors = {s: r for s, r in op["responses"].items() if s >= "400"}
            assert "422" in errors or not op.get("parameters") and "requestBody" not in op
            for status, response in errors.items():
                assert list(response["content"]) == [PROBLEM], (method, path, status)
            if "security" in op:
                assert "401" in errors, (method, path)
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                assert "404" in errors, (method, path)


async def test_a_write_documents_its_idempotency_key(http: Any) -> None:
    doc = (await http.get("/openapi.json")).json()
    params = doc["paths"]["/api/v1/payments"]["post"]["parameters"]
    assert [p["name"] for p in params if p["in"] == "header"] == ["Idempotency-Key"]


async def test_a_tariff_for_an_unknown_agent_is_not_found(tenant: Tenant) -> None:
    tariff = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}
    r = await tenant.api.put("/api/v1/agents/usr_nobody/tariff", json={"tariff": tariff})
    assert (r.status_code, r.json()["code"]) == (404, "agent_not_found")
    assert r.headers["content-type"] == PROBLEM


async def test_a_text_with_a_nul_character_is_refused_before_it_reaches_the_database(
    tenant: Tenant,
) -> None:
    r = await tenant.api.post("/api/v1/clients", json={"name": "A\x00da", "email": "a@b.c"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    assert r.json()["errors"][0]["field"] == "name"
    r = await tenant.api.get("/api/v1/clients/cli_%00")
    assert r.status_code == 422


async def test_a_period_given_as_a_number_is_refused_as_the_document_says(tenant: Tenant) -> None:
    r = await tenant.api.get("/api/v1/revenue", params={"start": "0.0"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    r = await tenant.api.get("/api/v1/revenue", params={"start": "2026-01-01T00:00:00Z"})
    assert r.status_code == 200
