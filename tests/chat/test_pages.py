"""The chat room administration pages and the console's pages, through HTTP as a browser
sends it (form posts with the CSRF token)."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import httpx

from fareroom.bootstrap import Context
from tests.conftest import Tenant
from tests.support.pages import sign_in

AGENT_PASSWORD = "agent password 1"


async def _sign_in(http: httpx.AsyncClient, email: str, password: str) -> str:
    r = await sign_in(http, email, password)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def _agent(ctx: Context, tenant: Tenant, name: str = "Sam") -> Any:
    email = f"{name.lower()}-{tenant.id}@example.com"
    async with ctx.unit_of_work() as s:
        return await s.accounts.add_user(tenant.id, email=email, password=AGENT_PASSWORD,
                                         role="agent", name=name)  # fmt: skip


def _form(csrf: str, **fields: Any) -> dict[str, Any]:
    return {"csrf": csrf, "name": "Tax advice", "terms": "Pay by the minute.",
            "block_price": "12.50", "block_minutes": "5", "free_minutes": "1",
            "increment_seconds": "30", "preauth_amount": "25.00", "split_threshold": "",
            "distribution": "longest_idle", **fields}  # fmt: skip


async def _rooms(tenant: Tenant) -> list[dict[str, Any]]:
    return list((await tenant.api.get("/api/v1/chat-rooms")).json()["data"])


async def test_an_owner_creates_and_edits_a_room_and_gets_its_embed_snippet(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    agent = await _agent(ctx, tenant)
    await _sign_in(http, tenant.owner_email, tenant.password)
    new = await http.get("/dashboard/rooms/new")
    assert new.status_code == 200 and "Sam" in new.text
    r = await http.post("/dashboard/rooms/new", data=_form(
        _csrf(new.text), agent_ids=[agent.id], agent_may_pause="on"))  # fmt: skip
    assert r.status_code == 303, r.text
    [room] = await _rooms(tenant)
    assert r.headers["location"].startswith(f"/dashboard/rooms/{room['id']}")
    assert room["tariff"] | {"currency": "EUR"} == {
        "currency": "EUR", "free_minutes": 1, "block_minutes": 5, "block_price": 1250,
        "increment_seconds": 30, "split_threshold": None, "preauth_amount": 2500}  # fmt: skip
    assert (room["agent_ids"], room["distribution"]) == ([agent.id], "longest_idle")
    assert (room["agent_may_start"], room["agent_may_pause"]) == (False, True)

    page = await http.get(f"/dashboard/rooms/{room['id']}")
    assert f'src="http://testserver/chat/{room["id"]}/embed.js"' in page.text
    assert 'value="12.50"' in page.text and 'value="25.00"' in page.text
    # saving without a tariff change keeps the tariff; changing the terms changes them
    r = await http.post(f"/dashboard/rooms/{room['id']}", data=_form(
        _csrf(page.text), terms="New terms.", agent_ids=[agent.id]))  # fmt: skip
    assert r.status_code == 303
    [after] = await _rooms(tenant)
    assert after["terms"] == "New terms." and after["tariff"] == room["tariff"]
    assert after["agent_may_pause"] is False  # an unticked box is off
    listing = await http.get("/dashboard/rooms")
    assert "Tax advice" in listing.text and "Sam" in listing.text


def _alert(html: str) -> str:
    """The error the page shows (role=alert), or '' when there is none."""
    match = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    return html_lib.unescape(match.group(1)) if match else ""


async def _new_room_form(http: httpx.AsyncClient, tenant: Tenant) -> str:
    """The owner signed in on the new room's form; its CSRF token."""
    await _sign_in(http, tenant.owner_email, tenant.password)
    return _csrf((await http.get("/dashboard/rooms/new")).text)


async def _refused(http: httpx.AsyncClient, csrf: str, fields: dict[str, Any]) -> str:
    """The error of a new room's form that was refused with 422 (and the page's HTML)."""
    r = await http.post("/dashboard/rooms/new", data=_form(csrf, **fields))
    assert r.status_code == 422, (fields, r.status_code)
    return _alert(r.text) + "\n" + r.text


async def test_a_bad_room_form_says_what_is_wrong_and_changes_nothing(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _new_room_form(http, tenant)
    for fields, words in [({"block_price": "ten"}, "Minimum charge: Write the amount"),
                          ({"block_price": "10.001"}, "Minimum charge: EUR amounts have 2"),
                          ({"preauth_amount": ""}, "Hold on the card: Fill in the amount."),
                          ({"split_threshold": "1.00"}, "split threshold is below"),
                          ({"name": " "}, "needs a name"),
                          ({"agent_ids": ["usr_nobody"]}, "No user")]:  # fmt: skip
        error, page = (await _refused(http, csrf, fields)).split("\n", 1)
        assert words in error, (fields, error)
        assert 'value="Tax advice"' in page or fields.get("name")  # what was typed stays
    assert await _rooms(tenant) == []
    r = await http.post("/dashboard/rooms/new", data=_form("forged"))
    assert r.status_code == 403 and await _rooms(tenant) == []


async def test_room_form_errors_name_the_fields_by_their_labels_with_amounts_in_major_units(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _new_room_form(http, tenant)
    for fields, said in [
        ({"block_minutes": "0"}, "Minutes the minimum charge covers must be between 1 and"),
        ({"increment_seconds": "0"}, "Increment (seconds) must be between 1 and"),
        ({"block_price": "0.10"},
         "Minimum charge must be between 0.50 EUR and 999,999.99 EUR."),
        ({"preauth_amount": "1,00"}, "Hold on the card: Use a dot for decimals, e.g. 1.00"),
        ({"split_threshold": "1,23,4"}, "Collect whenever due reaches: Commas go between"),
    ]:  # fmt: skip
        error, page = (await _refused(http, csrf, fields)).split("\n", 1)
        assert error.startswith(said), (fields, error)
        assert not re.search(r"[a-z]+_[a-z]+", error), error  # no internal field names
        assert f"<label>{said.split(' must')[0].split(':')[0]}" in html_lib.unescape(page)
    assert await _rooms(tenant) == []


async def test_room_form_refuses_unicode_digits_and_huge_exponents_with_422_not_500(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _new_room_form(http, tenant)
    for fields, said in [
        ({"free_minutes": "\u00b2"}, "Free minutes: Write a whole number of minutes with the "
                                      "digits 0-9."),
        ({"block_minutes": "\u0661"}, "Minutes the minimum charge covers: Write a whole"),
        ({"block_price": "1e999999999"}, "Minimum charge: Write the amount in plain digits"),
        ({"preauth_amount": "1e999999999"}, "Hold on the card: Write the amount in plain"),
        ({"split_threshold": "9" * 5000}, "Collect whenever due reaches: The amount may be at "
                                          "most 999,999.99 EUR."),
    ]:  # fmt: skip
        error, page = (await _refused(http, csrf, fields)).split("\n", 1)
        assert error.startswith(said), (fields, error)
        assert re.search(r'data-code="(invalid_number|invalid_amount|amount_too_large)"', page)
    assert await _rooms(tenant) == []


async def test_room_form_reads_amounts_as_the_app_prints_them(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _new_room_form(http, tenant)
    r = await http.post("/dashboard/rooms/new", data=_form(
        csrf, block_price="1,000", preauth_amount="1,234.56", split_threshold="2000"))  # fmt: skip
    assert r.status_code == 303, _alert(r.text)
    [room] = await _rooms(tenant)
    assert (room["tariff"]["block_price"], room["tariff"]["preauth_amount"],
            room["tariff"]["split_threshold"]) == (100_000, 123_456, 200_000)  # fmt: skip
    page = await http.get(f"/dashboard/rooms/{room['id']}")
    assert 'value="1,000.00"' in page.text and 'value="1,234.56"' in page.text
    # saved again as shown, the tariff is the same one
    r = await http.post(f"/dashboard/rooms/{room['id']}", data=_form(
        _csrf(page.text), block_price="1,000.00", preauth_amount="1,234.56",
        split_threshold="2,000.00"))  # fmt: skip
    assert r.status_code == 303
    [after] = await _rooms(tenant)
    assert after["tariff"] == room["tariff"]


async def test_tariff_warnings_are_shown_as_warnings_and_the_room_is_saved(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await _new_room_form(http, tenant)
    # a hold below the minimum charge works, but the owner should reconsider it
    r = await http.post("/dashboard/rooms/new", data=_form(csrf, preauth_amount="5.00"))
    assert r.status_code == 303
    [room] = await _rooms(tenant)
    page = await http.get(r.headers["location"])
    assert page.status_code == 200 and _alert(page.text) == ""
    warning = re.search(r'<p class="warning" role="status" data-code="([a-z_]+)">(.*?)</p>',
                        page.text, re.S)  # fmt: skip
    assert warning and warning.group(1) == "hold_below_minimum_charge"
    assert "pre-authorisation is below the minimum charge" in warning.group(2)
    assert room["warnings"][0]["code"] == "hold_below_minimum_charge"


async def test_rooms_are_for_owners_and_admins_of_their_own_business(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, ctx: Context, app: Any
) -> None:
    r = await tenant.api.post("/api/v1/chat-rooms", json={
        "name": "Mine", "terms": "T", "tariff": {"block_minutes": 5, "block_price": 1000,
                                                 "preauth_amount": 1000}})  # fmt: skip
    room = r.json()
    assert (await http.get("/dashboard/rooms")).headers["location"] == "/login"
    agent = await _agent(ctx, tenant)
    assert await _sign_in(http, agent.email, AGENT_PASSWORD) == "/console"
    assert (await http.get("/dashboard/rooms")).status_code == 403
    assert (await http.get(f"/dashboard/rooms/{room['id']}")).status_code == 403

    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await _sign_in(other, other_tenant.owner_email, other_tenant.password)
        assert (await other.get(f"/dashboard/rooms/{room['id']}")).status_code == 404
        csrf = _csrf((await other.get("/dashboard/rooms/new")).text)
        r = await other.post(f"/dashboard/rooms/{room['id']}", data=_form(csrf))
        assert r.status_code == 404
    [still] = await _rooms(tenant)
    assert still["name"] == "Mine"


async def test_the_console_and_the_agents_revenue_need_an_agent(
    http: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    assert (await http.get("/console")).headers["location"] == "/login"
    assert (await http.get("/console/revenue.json")).status_code == 401
    agent = await _agent(ctx, tenant, "Kim")
    await _sign_in(http, agent.email, AGENT_PASSWORD)
    page = await http.get("/console")
    assert page.status_code == 200 and "/static/chat-console.js" in page.text
    assert (await http.get("/console/revenue.json")).json() == {"today": []}
    revenue = await http.get("/console/revenue")
    assert revenue.status_code == 200 and "Today" in revenue.text and "Nothing yet" in revenue.text
    assert (await http.get("/dashboard")).status_code == 403  # payments are not an agent's

    async with ctx.unit_of_work() as s:
        await s.accounts.add_user(tenant.id, email=f"fin-{tenant.id}@example.com",
                                  password=AGENT_PASSWORD, role="finance", name="Fin")  # fmt: skip
    await _sign_in(http, f"fin-{tenant.id}@example.com", AGENT_PASSWORD)
    assert (await http.get("/console")).status_code == 403
