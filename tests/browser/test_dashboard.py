"""The owner's dashboard in the browser: refunds on a phone, and the amount rule the pages
share with the server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from fareroom.kit.money import CURRENCY_EXPONENTS, format_major
from tests.browser.conftest import DESKTOP, PHONE, Pages

CASES = json.loads((Path(__file__).parents[1] / "unit" / "amount_cases.json").read_text())


async def _on_screen(page: Page, selector: str) -> None:
    """The element is visible without scrolling sideways."""
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


async def _refund(page: Page, payment_id: str, amount: str, reason: str = "") -> None:
    row = page.locator(f"tr[id='{payment_id}']")
    if await row.locator("details.refund").get_attribute("open") is None:
        await row.locator("details.refund summary").click()
    await row.locator("input[name=amount]").fill(amount)
    await row.locator("input[name=reason]").fill(reason)
    await row.get_by_role("button", name="Refund this amount").click()
    await page.wait_for_load_state()


async def test_the_owner_refunds_a_payment_in_two_parts_on_a_phone(pages: Pages) -> None:
    client = await pages.t.client("Grace")
    paid = (await pages.t.pay(client["id"], 10_000)).json()
    page = await pages.sign_in(pages.t.owner_email, pages.t.password, viewport=PHONE)
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    row = f"tr[id='{paid['id']}']"
    for label in ("Date", "Amount", "Net", "Refund"):
        await _on_screen(page, f"{row} td[data-label='{label}']")
    await expect(page.locator(f"{row} td[data-label=Date]")).to_contain_text(" UTC")
    await pages.shot(page, "dashboard")

    await _refund(page, paid["id"], "500.00", "typo")
    await expect(page.get_by_role("alert")).to_have_text("You can refund at most 100.00 EUR.")
    await expect(page.locator(f"{row} input[name=amount]")).to_have_value("500.00")
    await pages.shot(page, "refund-too-much")

    await _refund(page, paid["id"], "25.50", "late start")
    await expect(page.locator(f"{row} td[data-label=Status]")).to_contain_text(
        "partly refunded 25.50 EUR")  # fmt: skip
    await expect(page.locator(f"{row} td[data-label=Refunded]")).to_contain_text("late start")
    await pages.shot(page, "partly-refunded")

    await page.locator(f"{row} details.refund summary").click()
    await page.get_by_role("link", name="Refund in full (74.50 EUR)…").click()
    await pages.shot(page, "refund-in-full")
    await page.get_by_label("Reason").fill("the call never happened")
    await page.get_by_role("button", name="Refund everything (74.50 EUR)").click()
    await expect(page.locator(f"{row} td[data-label=Status]")).to_have_text("refunded")
    await expect(page.locator(f"{row} details.refund")).to_have_count(0)
    await pages.shot(page, "refunded")
    await page.set_viewport_size(DESKTOP)
    await pages.shot(page, "refunded")
    api = (await pages.t.api.get(f"/api/v1/payments/{paid['id']}")).json()
    assert (api["amount_refunded"], api["refund_status"]) == (10_000, "full")


async def test_the_pages_read_typed_amounts_by_the_servers_rule(pages: Pages) -> None:
    agent = await pages.user()
    page = await pages.console(agent)
    await expect(page.locator("#earned")).to_have_text("0.00 EUR")
    read: list[dict[str, Any]] = await page.evaluate(
        """async (cases) => {
             const common = await import("/static/chat-common.js");
             return cases.map(([text, currency]) => common.parseAmount(text, currency));
           }""",
        CASES["cases"],
    )  # fmt: skip
    expected = [{"amount": e} if isinstance(e, int) else {"error": e}
                for _, _, e in CASES["cases"]]  # fmt: skip
    assert read == expected
    amounts = [0, 5, 50, 1_234, 100_000, 123_456, 99_999_999]
    printed = await page.evaluate(
        """async ([amounts, currencies]) => {
             const common = await import("/static/chat-common.js");
             return currencies.map((c) => amounts.map((a) => common.formatMajor(a, c)));
           }""",
        [amounts, sorted(CURRENCY_EXPONENTS)],
    )  # fmt: skip
    assert printed == [[format_major(a, c) for a in amounts] for c in sorted(CURRENCY_EXPONENTS)]
