"""Sign-in and the dashboard, through the pages a person uses."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Tenant
from tests.support.pages import sign_in


async def _login(http: Any, tenant: Tenant) -> None:
    r = await sign_in(http, tenant.owner_email, tenant.password)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    assert "httponly" in r.headers["set-cookie"].lower()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def test_wrong_password_is_refused(http: Any, tenant: Tenant) -> None:
    r = await sign_in(http, tenant.owner_email, "nope")
    assert r.status_code == 401 and "wrong" in r.text
    assert (await http.get("/dashboard")).headers["location"] == "/login"


async def test_dashboard_shows_payments_fees_and_the_gateway_log(http: Any, tenant: Tenant) -> None:
    client = await tenant.client("Grace")
    paid = (await tenant.pay(client["id"], 12_345, description="Coaching")).json()
    await _login(http, tenant)
    page = await http.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert paid["id"] in html and "Grace" in html
    assert "123.45 EUR" in html and "12.35 EUR" in html  # amount and 10 % fee
    assert "create_charge" in html and "attach_card" in html


async def test_refund_form_refunds_part_and_needs_the_csrf_token(http: Any, tenant: Tenant) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 10_000)).json()
    await _login(http, tenant)
    csrf = _csrf((await http.get("/dashboard")).text)
    url = f"/dashboard/payments/{paid['id']}/refund"
    forged = await http.post(url, data={"csrf": "0" * 32, "amount": "10.00"})
    assert forged.status_code == 403
    r = await http.post(url, data={"csrf": csrf, "amount": "25.50", "reason": "late"})
    assert r.status_code == 303 and "notice=" in r.headers["location"]
    bad = await http.post(url, data={"csrf": csrf, "amount": "500.00"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    p = (await tenant.api.get(f"/api/v1/payments/{paid['id']}")).json()
    assert p["amount_refunded"] == 2_550 and p["refunds"][0]["reason"] == "late"


async def test_sign_out_ends_the_session(http: Any, tenant: Tenant) -> None:
    await _login(http, tenant)
    csrf = _csrf((await http.get("/dashboard")).text)
    assert (await http.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await http.get("/dashboard")).status_code == 303


async def test_users_with_roles_sign_in_and_the_dashboard_follows_their_role(
    http: Any, tenant: Tenant
) -> None:
    for role in ("agent", "finance"):
        r = await tenant.api.post(
            "/api/v1/users",
            json={
                "email": f"{role}-{tenant.id}@example.com",
                "password": "long password",
                "role": role,
            },
        )
        assert r.status_code == 201 and r.json()["role"] == role
        assert "password" not in r.text
    bad = await tenant.api.post(
        "/api/v1/users",
        json={"email": "x@example.com", "password": "long password", "role": "owner"},
    )
    assert bad.status_code == 422
    taken = await tenant.api.post(
        "/api/v1/users",
        json={
            "email": f"agent-{tenant.id}@example.com",
            "password": "long password",
            "role": "admin",
        },
    )
    assert taken.status_code == 409 and taken.json()["code"] == "email_unavailable"
    roles = sorted(u["role"] for u in (await tenant.api.get("/api/v1/users")).json()["data"])
    assert roles == ["agent", "finance", "owner"]

    await sign_in(http, f"agent-{tenant.id}@example.com", "long password")
    assert (await http.get("/dashboard")).status_code == 403
    http.cookies.clear()
    await sign_in(http, f"finance-{tenant.id}@example.com", "long password")
    assert (await http.get("/dashboard")).status_code == 200
