"""The billing back office in the browser, as the owner uses it on a desktop and a phone: the
overview's charts, a customer's card made default and another deleted, credit added, a
payment run started with its progress bar moving to the report, a payment's page and a
refund from it. The business's money is made through the server's own API (its clock is
the real one), so the charts show today."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Pages

BILLS = 90


async def _api(pages: Pages) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=pages.base, timeout=30,
                             headers={"Authorization": f"Bearer {pages.t.api_key}"})  # fmt: skip


async def _made(http: httpx.AsyncClient, path: str, body: Any = None, **kw: Any) -> Any:
    r = await http.post(path, json=body, **kw) if body is not None else await http.post(path, **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def _token(http: httpx.AsyncClient, number: str = "4242424242424242") -> str:
    made = await _made(http, "/sandbox/tokens", {"number": number, "exp_month": 12,
                                                 "exp_year": 2035, "cvc": "123"})  # fmt: skip
    return str(made["id"])


async def _fits(page: Page, selector: str) -> None:
    """The element is on screen without scrolling sideways."""
    box = await page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box


async def _seed(http: httpx.AsyncClient) -> dict[str, Any]:
    ada = await _made(http, "/api/v1/clients", {"name": "Ada Lovelace", "email": "ada@ex.test"})
    first = await _made(http, f"/api/v1/clients/{ada['id']}/cards", {"token": await _token(http)})
    second = await _made(http, f"/api/v1/clients/{ada['id']}/cards",
                         {"token": await _token(http, "5555555555554444")})  # fmt: skip
    payments = [await _made(http, "/api/v1/payments", {
        "client_id": ada["id"], "amount": amount, "currency": "EUR", "capture": True})
        for amount in (12_000, 4_500, 30_000)]  # fmt: skip
    others = [await _made(http, "/api/v1/clients", {"name": f"Client {n}",
                                                    "email": f"c{n}@ex.test"})
              for n in range(3)]  # fmt: skip
    for other in others:
        await _made(http, f"/api/v1/clients/{other['id']}/cards", {"token": await _token(http)})
    today = datetime.now(UTC).date().isoformat()
    rows = ["client,reference,due_on,line,unit_price"] + [
        f"{others[n % 3]['id']},RUN-{n},{today},Lesson,{20 + n % 7}.00" for n in range(BILLS)
    ]
    await _made(http, "/api/v1/bills/import", content="\n".join(rows).encode(),
                headers={"Content-Type": "text/csv"})  # fmt: skip
    return {"ada": ada, "first": first, "second": second, "payments": payments}


async def test_the_owner_runs_the_back_office_from_the_dashboard(pages: Pages) -> None:
    async with await _api(pages) as http:
        seeded = await _seed(http)
    ada = seeded["ada"]
    page = await pages.sign_in(pages.t.owner_email, pages.t.password)

    # the overview: four charts, today's bar counting what was just paid
    await page.click("#nav-overview")
    await expect(page.locator("svg.chart")).to_have_count(4)
    gross = page.locator("#chart-gross rect.bar").last
    await expect(gross).to_have_attribute("data-value", "46500")
    await expect(page.locator("#chart-customers rect.bar").last).to_have_attribute(
        "data-value", "4")  # fmt: skip
    await pages.shot(page, "overview")
    await page.click("a[href='/dashboard/overview?unit=month']")
    await expect(page.locator("#chart-charges rect.bar").last).to_have_attribute(
        "data-value", "3")  # fmt: skip

    # the customer: the second card made default and authorised, the first deleted, credit
    await page.click("#nav-customers")
    await page.fill("#customer-search", "ada")
    await page.click("form[role=search] button")
    await page.click("text=Ada Lovelace")
    await expect(page.locator("#cards tbody tr")).to_have_count(2)
    row = page.locator("#cards tbody tr", has_text="4444")
    await row.locator("input[name=default]").check()
    await row.locator("input[name=recurring]").check()
    await row.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("The card was saved.")
    await page.locator("#cards tbody tr", has_text="4242").get_by_role(
        "button", name="Delete").click()  # fmt: skip
    await expect(page.get_by_role("status")).to_have_text("The card was deleted.")
    await expect(page.locator("#cards tbody tr")).to_have_count(1)
    await page.fill("#credit-form input[name=amount]", "1,000")
    await page.fill("#credit-form input[name=note]", "welcome")
    await page.click("#credit-form button")
    await expect(page.locator("#wallet-balance")).to_have_text("1,000.00 EUR")
    await expect(page.locator("#timeline")).to_contain_text("Credit added to the wallet: welcome")
    await pages.shot(page, "customer")

    # a payment run: its bar moves, then the report
    await page.click("#nav-runs")
    await page.click("#start-run-button")
    await expect(page).to_have_url(re.compile(r"/dashboard/runs/run_"))
    await expect(page.locator("#run-status")).to_have_text("running")
    done = page.locator("#run-done")
    await expect(done).not_to_have_text("0", timeout=15_000)
    moving = int(await done.inner_text())
    await pages.shot(page, "run-moving")
    await expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    assert moving < BILLS or int(await page.locator("#run-done").inner_text()) == BILLS
    await expect(page.locator("#count-paid")).to_have_text(str(BILLS))
    await expect(page.locator("#run-bar")).to_have_attribute("value", str(BILLS))
    await expect(page.locator("#report-csv")).to_be_visible()
    await pages.shot(page, "run-finished")
    async with page.expect_download() as download:
        await page.click("#report-csv")
    report = await (await download.value).path()
    assert report is not None
    lines = (await asyncio.to_thread(report.read_text)).splitlines()
    assert len(lines) == BILLS + 1 and lines[0].startswith("bill,reference,client")

    # a payment's page (the run's newest, at the top of the payments), and a refund from it
    await page.goto(f"{pages.base}/dashboard")
    await page.locator("a.payment-link").first.click()
    await expect(page.locator("#payment")).to_contain_text("Bill RUN-")
    await expect(page.locator("#payment-timeline")).to_contain_text("Gateway: create charge")
    await page.fill("#refund-form input[name=amount]", "5.00")
    await page.fill("#refund-form input[name=reason]", "shorter session")
    await page.click("#refund-button")
    await expect(page.get_by_role("status")).to_have_text("The refund was made.")
    await expect(page.locator("#payment-timeline")).to_contain_text(
        "Refund of 5.00 EUR: shorter session")  # fmt: skip
    await expect(page.locator("#payment-timeline")).to_contain_text("Gateway: refund")
    await pages.shot(page, "payment-refunded")
    account = (await pages.t.api.get(f"/api/v1/clients/{ada['id']}/account")).json()
    assert [c["id"] for c in account["cards"]] == [seeded["second"]["id"]]
    assert account["wallet"]["balance"] == 100_000


async def test_the_back_office_fits_a_phone(pages: Pages) -> None:
    async with await _api(pages) as http:
        seeded = await _seed(http)
    page = await pages.sign_in(pages.t.owner_email, pages.t.password, viewport=PHONE)
    for path, shown in (("/dashboard/overview", "svg.chart"), ("/dashboard/runs", "#start-run"),
                        (f"/dashboard/customers/{seeded['ada']['id']}", "#credit-form"),
                        (f"/dashboard/payments/{seeded['payments'][0]['id']}",
                         "#refund-form"), ("/dashboard/bills", "#bill-form"),
                        ("/dashboard/payouts", "#payout-form"),
                        ("/dashboard/gateway-log", "form.filters"),
                        ("/dashboard", "#payment-filters")):  # fmt: skip
        await page.goto(f"{pages.base}{path}")
        await _fits(page, shown)
        await _fits(page, "main h2")
        await pages.shot(page, path.strip("/").replace("/", "-")[:40])
    assert DESKTOP["width"] > PHONE["width"]
