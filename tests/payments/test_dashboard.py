"""The dashboard's payments: newest first a page at a time, refunds typed in major units,
what was refunded and why, times with their zone."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import httpx

from fareroom.kit.clock import FrozenClock
from tests.conftest import Tenant
from tests.support.pages import sign_in


async def _login(http: httpx.AsyncClient, tenant: Tenant) -> str:
    r = await sign_in(http, tenant.owner_email, tenant.password)
    assert r.status_code == 303
    return _csrf((await http.get("/dashboard")).text)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _alert(page: str) -> str:
    match = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', page, re.S)
    return html_lib.unescape(match.group(1)) if match else ""


def _row(page: str, payment_id: str) -> str:
    match = re.search(rf'<tr id="{payment_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {payment_id}"
    return html_lib.unescape(re.sub(r"\s+", " ", match.group(1)))


def _refund_id(page: str, payment_id: str) -> str:
    match = re.search(r'name="refund_id" value="(re_[0-9a-z]+)"', _row(page, payment_id))
    assert match, "no refund form in the row"
    return match.group(1)


async def _payment(tenant: Tenant, payment_id: str) -> dict[str, Any]:
    return dict((await tenant.api.get(f"/api/v1/payments/{payment_id}")).json())


async def test_a_refund_error_names_the_amount_in_major_units_and_changes_nothing(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 1_234)).json()
    csrf = await _login(http, tenant)
    url = f"/dashboard/payments/{paid['id']}/refund"
    for amount, said, code in [
        ("9,999.00", "You can refund at most 12.34 EUR.", "amount_exceeds_refundable"),
        ("0", "A refund is at least 0.01 EUR.", "amount_too_small"),
        ("1,00", "Use a dot for decimals, e.g. 1.00", "invalid_amount"),
        ("1e999999999", "Write the amount in plain digits, e.g. 1,234.56.", "invalid_amount"),
        ("\u00b2", "Write the amount with the digits 0-9 only.", "invalid_amount"),
        ("", "Fill in the amount to refund, or choose \u201cRefund in full\u201d.",
         "amount_required"),
    ]:  # fmt: skip
        r = await http.post(url, data={"csrf": csrf, "amount": amount, "reason": "typo"})
        assert r.status_code == 422, (amount, r.status_code)
        assert _alert(r.text).startswith(said), (amount, _alert(r.text))
        assert r.text.count(f'data-code="{code}"') == 1  # said once, by the form
        row = _row(r.text, paid["id"])
        assert f'data-code="{code}"' in row
        assert '<details class="refund" open>' in row and f'value="{amount}"' in row
    assert (await _payment(tenant, paid["id"]))["amount_refunded"] == 0


async def test_refunds_show_partly_refunded_then_refunded_with_their_reasons(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 10_000)).json()
    assert paid["refund_status"] == "none"
    csrf = await _login(http, tenant)
    url = f"/dashboard/payments/{paid['id']}/refund"
    page = (await http.get("/dashboard")).text
    r = await http.post(url, data={"csrf": csrf, "amount": "1,000", "reason": "late start",
                                   "refund_id": _refund_id(page, paid["id"])})  # fmt: skip
    assert r.status_code == 422  # 1,000.00 is more than the 100.00 paid (it is not 10.00)
    assert (await _payment(tenant, paid["id"]))["amount_refunded"] == 0
    r = await http.post(url, data={"csrf": csrf, "amount": "25.50", "reason": "late start",
                                   "refund_id": _refund_id(page, paid["id"])})  # fmt: skip
    assert r.status_code == 303
    api = await _payment(tenant, paid["id"])
    assert (api["status"], api["refund_status"], api["amount_refunded"]) == (
        "succeeded",
        "partial",
        2_550,
    )
    row = _row((await http.get("/dashboard")).text, paid["id"])
    assert "partly refunded" in row and "25.50 EUR" in row and "late start" in row

    confirm = await http.get(url)
    assert confirm.status_code == 200
    assert "Refund everything (74.50 EUR)" in html_lib.unescape(confirm.text)
    form = {"csrf": _csrf(confirm.text), "reason": "never happened",
            "amount": re.search(r'name="amount" value="([^"]+)"', confirm.text).group(1),  # type: ignore[union-attr]
            "refund_id": re.search(r'name="refund_id" value="([^"]+)"', confirm.text).group(1)}  # type: ignore[union-attr]  # fmt: skip
    assert (await http.post(url, data=form)).status_code == 303
    assert (await http.post(url, data=form)).status_code == 303  # sent twice: refunded once
    api = await _payment(tenant, paid["id"])
    assert (api["refund_status"], api["amount_refunded"], len(api["refunds"])) == (
        "full",
        10_000,
        2,
    )
    row = _row((await http.get("/dashboard")).text, paid["id"])
    assert re.search(r'class="status refunded">refunded<', row) and "never happened" in row
    assert "Refund…" not in row  # nothing is left to refund


async def test_dashboard_times_say_their_time_zone(http: httpx.AsyncClient, tenant: Tenant,
                                                   clock: FrozenClock) -> None:  # fmt: skip
    client = await tenant.client()
    paid = (await tenant.pay(client["id"], 1_000)).json()
    await _login(http, tenant)
    page = (await http.get("/dashboard")).text
    when = clock.now().strftime("%Y-%m-%d %H:%M")
    assert f"{when} UTC" in _row(page, paid["id"])
    assert re.search(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td><td>sandbox", page)


async def test_the_dashboard_pages_through_payments_newest_first_with_none_missed(
    http: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    client = await tenant.client()
    made = []
    for _ in range(30):
        clock.advance(seconds=61)
        made.append((await tenant.pay(client["id"], 1_000)).json()["id"])
    await _login(http, tenant)
    first = (await http.get("/dashboard")).text
    shown = re.findall(r'<tr id="(pay_[^"]+)">', first)
    assert shown == made[::-1][:25]
    assert "← Newer" not in first
    older = re.search(r'href="(/dashboard\?after=[^"]+)"[^>]*>Older →', first)
    assert older
    clock.advance(seconds=61)
    late = (await tenant.pay(client["id"], 1_000)).json()["id"]  # arrives between the pages
    second = (await http.get(html_lib.unescape(older.group(1)))).text
    assert re.findall(r'<tr id="(pay_[^"]+)">', second) == made[::-1][25:]
    assert "Older →" not in second
    newer = re.search(r'href="(/dashboard\?before=[^"]+)"[^>]*>← Newer', second)
    assert newer
    back = (await http.get(html_lib.unescape(newer.group(1)))).text
    assert re.findall(r'<tr id="(pay_[^"]+)">', back) == made[::-1][:25]
    assert "← Newer" in back  # the payment that came meanwhile is on the page before
    assert late not in re.findall(r'<tr id="(pay_[^"]+)">', back)
    newest = (await http.get(html_lib.unescape(re.search(
        r'href="(/dashboard\?before=[^"]+)"[^>]*>← Newer', back).group(1)))).text  # type: ignore[union-attr]  # fmt: skip
    assert re.findall(r'<tr id="(pay_[^"]+)">', newest) == [late]
