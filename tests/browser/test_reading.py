"""What a person reads on the chat pages, as one using them found it: amounts as the rest of
the app prints them (thousands grouped), terms that fit a phone, an ended chat said in words."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Pages

THOUSAND = {"block_minutes": 5, "block_price": 100_000, "preauth_amount": 200_000}


async def test_the_chat_pages_group_thousands_as_the_dashboard_does(pages: Pages) -> None:
    agent = await pages.user()
    room = await pages.room([agent], tariff=THOUSAND)
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    # the meter runs from the connection: the minimum charge is due at once
    await expect(client.locator("#meter-price")).to_have_text("1,000.00 EUR")
    await expect(console.locator("#meter-price")).to_have_text("1,000.00 EUR")
    await pages.shot(client, "meter-at-a-thousand")
    await pages.hang_up(client)
    await expect(client.locator("#summary-total")).to_have_text("1,000.00 EUR")
    await expect(console.locator("#ended")).to_contain_text("paid 1,000.00 EUR")
    await pages.shot(client, "summary-at-a-thousand")


async def test_an_ended_chat_says_why_in_words_on_the_console(pages: Pages) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    await pages.connected_client(room["id"])
    await console.click("#hangup")
    await console.click("#confirm-hangup-yes")
    await expect(console.locator("#ended")).to_contain_text("Ended: hung up")
    await pages.shot(console, "ended-in-words")


async def test_terms_with_a_long_address_fit_a_phone(pages: Pages) -> None:
    agent = await pages.user()
    address = "https://shop.example/legal/TermsAndConditionsForPaidChats_2026_Edition.pdf"
    terms = f"You pay per minute as shown. The full terms: {address}"
    room = await pages.room([agent], terms=terms)
    await pages.console(agent)
    client = await pages.client_page(room["id"])
    await pages.contact(client)
    await expect(client.locator("#terms")).to_contain_text("TermsAndConditions")
    await pages.shot(client, "terms-at-phone-width")
    wide = await client.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the page is {wide} px wide on a 390-px phone"


async def test_the_pages_ask_for_no_file_the_server_lacks(pages: Pages) -> None:
    # a page without an icon of its own makes Chromium ask for /favicon.ico: a 404 and
    # "Failed to load resource" in the console on every page
    agent = await pages.user()
    room = await pages.room([agent])
    page = await (await pages.context()).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    for path in ("/login", f"/chat/{room['id']}"):
        await page.goto(f"{pages.base}{path}")
        await page.wait_for_timeout(1000)  # the icon is asked for after the page loaded
    assert errors == []
