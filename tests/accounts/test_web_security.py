"""What every response says about itself, which form posts are taken, where people land,
and what a link can make our pages say."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fareroom.app import create_app
from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.support.pages import form_token, sign_in

AGENT_PASSWORD = "agent password 1"
EVIL = "https://evil.example"


def _assert_secured(r: httpx.Response) -> str:
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    return policy


async def test_pages_api_static_files_and_errors_carry_the_security_headers(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for r in (
        await http.get("/login"),
        await tenant.api.get("/api/v1/balance"),
        await http.get("/static/app.css"),
        await http.get("/no/such/page"),
        await tenant.api.get("/api/v1/payments/pay_missing"),
        await tenant.api.post("/api/v1/clients", json={"name": 5}),
    ):
        _assert_secured(r)


async def test_a_crash_answered_by_the_500_handler_carries_the_security_headers(
    ctx: Context,
) -> None:
    crashing = create_app(ctx)

    @crashing.get("/api/v1/crash")
    async def crash() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=crashing, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        r = await http.get("/api/v1/crash")
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    _assert_secured(r)


async def test_the_dashboard_and_the_console_may_be_framed_by_nobody(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    await sign_in(http, tenant.owner_email, tenant.password)
    for path in ("/dashboard", "/console", "/dashboard/rooms"):
        r = await http.get(path)
        assert r.status_code == 200
        policy = _assert_secured(r)
        assert "script-src 'self';" in policy and "connect-src 'self' ws://testserver" in policy


async def test_the_api_documentation_has_a_policy_of_its_own_for_its_inline_script(
    http: httpx.AsyncClient,
) -> None:
    r = await http.get("/docs")
    policy = r.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy and "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"


# ---------------------------------------------------------------- cross-site form posts


async def test_a_sign_in_posted_from_another_site_is_refused(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await sign_in(http, tenant.owner_email, tenant.password, origin=EVIL)
    assert r.status_code == 403 and "another site" in r.text
    assert "fareroom_session" not in r.headers.get("set-cookie", "")
    r = await sign_in(http, tenant.owner_email, tenant.password, referer=f"{EVIL}/login")
    assert r.status_code == 403
    assert (await http.get("/dashboard")).headers["location"] == "/login"


async def test_a_sign_in_without_the_forms_token_is_refused(
    http: httpx.AsyncClient, tenant: Tenant, app: Any
) -> None:
    await http.get("/login")
    data = {"email": tenant.owner_email, "password": tenant.password}
    r = await http.post("/login", data=data)
    assert r.status_code == 403 and "expired" in r.text
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with fresh:  # a token without its cookie: another browser's
        token = form_token((await http.get("/login")).text)
        r = await fresh.post("/login", data={**data, "csrf": token})
        assert r.status_code == 403
    ok = await sign_in(http, tenant.owner_email, tenant.password, origin="http://testserver")
    assert ok.status_code == 303


async def test_a_dashboard_form_posted_from_another_site_is_refused_and_refunds_nothing(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 10_000)).json()
    await sign_in(http, tenant.owner_email, tenant.password)
    csrf = form_token((await http.get("/dashboard")).text)
    r = await http.post(f"/dashboard/payments/{paid['id']}/refund",
                        data={"csrf": csrf, "amount": "10.00"},
                        headers={"origin": EVIL})  # fmt: skip
    assert r.status_code == 403 and "another site" in r.text
    p = (await tenant.api.get(f"/api/v1/payments/{paid['id']}")).json()
    assert p["amount_refunded"] == 0


# ---------------------------------------------------------------- the sandbox's onboarding


async def _onboarding(tenant: Tenant) -> dict[str, Any]:
    r = await tenant.api.post("/api/v1/connect/onboarding", json={})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _status(tenant: Tenant) -> str:
    return str((await tenant.api.get("/api/v1/connect")).json()["status"])


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/dashboard",
                                    "javascript:alert(1)", "/\\evil.example", "http:evil.example",
                                    "/\t/evil.example"])  # fmt: skip
async def test_onboarding_returns_only_to_this_installation(
    http: httpx.AsyncClient, tenant: Tenant, target: str
) -> None:
    start = await _onboarding(tenant)
    await sign_in(http, tenant.owner_email, tenant.password)
    url = f"/sandbox/connect/{start['account_id']}"
    page = await http.get(url, params={"return_url": "/dashboard"})
    csrf = form_token(page.text)
    shown = await http.get(url, params={"return_url": target})
    assert shown.status_code == 422 and "page of this Fareroom" in shown.text
    done = await http.post(url, data={"csrf": csrf, "return_url": target})
    assert done.status_code == 422 and "location" not in done.headers
    assert await _status(tenant) == "pending"
    home = await http.post(url, data={"csrf": csrf, "return_url": "http://testserver/dashboard"})
    assert home.status_code == 303 and home.headers["location"] == "http://testserver/dashboard"
    assert await _status(tenant) == "enabled"


async def test_onboarding_is_completed_only_by_the_business_signed_in_with_the_forms_token(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    start = await _onboarding(tenant)
    url = f"/sandbox/connect/{start['account_id']}"
    assert (await http.get(url)).headers["location"] == "/login"
    anonymous = await http.post(url, data={"return_url": "/dashboard"})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    await sign_in(http, other_tenant.owner_email, other_tenant.password)
    assert (await http.get(url)).status_code == 404
    theirs = form_token((await http.get("/dashboard")).text)
    assert (await http.post(url, data={"csrf": theirs})).status_code == 404
    http.cookies.clear()
    await sign_in(http, tenant.owner_email, tenant.password)
    assert (await http.post(url, data={"csrf": "0" * 32})).status_code == 403
    assert await _status(tenant) == "pending"


# ---------------------------------------------------------------- where people land


async def _agent(ctx: Context, tenant: Tenant) -> str:
    email = f"lands-{tenant.id}@example.com"
    async with ctx.unit_of_work() as s:
        await s.accounts.add_user(tenant.id, email=email, password=AGENT_PASSWORD, role="agent")
    return email


async def test_the_start_and_the_logo_lead_each_role_home(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    assert (await http.get("/")).headers["location"] == "/login"
    await sign_in(http, await _agent(ctx, tenant), AGENT_PASSWORD)
    assert (await http.get("/")).headers["location"] == "/console"
    console = await http.get("/console")
    assert '<a class="brand" href="/">' in console.text
    http.cookies.clear()
    await sign_in(http, tenant.owner_email, tenant.password)
    assert (await http.get("/")).headers["location"] == "/dashboard"


async def test_a_page_an_agent_may_not_see_links_back_to_the_console(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    await sign_in(http, await _agent(ctx, tenant), AGENT_PASSWORD)
    for path in ("/dashboard", "/dashboard/revenue", "/dashboard/rooms"):
        r = await http.get(path)
        assert r.status_code == 403
        assert '<a href="/console">Back to the console</a>' in r.text


# ---------------------------------------------------------------- messages from the URL


async def test_the_dashboard_shows_only_messages_of_its_own(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(http, tenant.owner_email, tenant.password)
    phish = "Your account is locked: call +1 555 0100"
    r = await http.get("/dashboard", params={"error": "<script>alert(1)</script>",
                                             "notice": phish})  # fmt: skip
    assert r.status_code == 200
    assert "alert(1)" not in r.text and phish not in r.text and 'role="alert"' not in r.text
    known = await http.get("/dashboard", params={"notice": "refunded"})
    assert '<p class="notice" role="status">The refund was made.</p>' in known.text


async def test_the_room_pages_show_only_messages_of_their_own(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(http, tenant.owner_email, tenant.password)
    r = await http.get("/dashboard/rooms", params={"notice": "Call +1 555 0100 now"})
    assert "555 0100" not in r.text and 'class="notice"' not in r.text
