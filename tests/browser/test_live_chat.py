"""Live chat in a real browser: the client's page (phone width) and the agent's console
(desktop) side by side against a running server, as docs/design.md §5 and §6 say it behaves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Pages
from tests.support.smtp import SmtpInbox

CHARGE_FAILS = "4000000000000341"  # attaches to the client; every charge is declined


async def _seconds(page: Page) -> int:
    text = await page.locator("#meter-time").inner_text()
    parts = [int(p) for p in text.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Polls what the page or the mail server shows until ``check`` holds."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.2)


async def test_from_the_embed_button_to_the_receipt(pages: Pages, smtp: SmtpInbox) -> None:
    # the owner sets up a room in the dashboard and copies the embed snippet
    agent = await pages.user(name="Sam")
    owner = await pages.sign_in(pages.t.owner_email, pages.t.password)
    await owner.goto(f"{pages.base}/dashboard/rooms/new")
    await owner.fill("input[name=name]", "Tax advice")
    await owner.fill("textarea[name=terms]", "Pay by the minute; see the tariff.")
    await owner.fill("input[name=block_price]", "10.00")
    await owner.fill("input[name=preauth_amount]", "20.00")
    await owner.check(f"input[name=agent_ids][value={agent['id']}]")
    await owner.click("form.room-form button")
    await expect(owner.locator(".notice")).to_contain_text("created")
    await pages.shot(owner, "room-created")
    snippet = await owner.input_value("#embed-script")
    assert re.fullmatch(r'<script src="http://127\.0\.0\.1:\d+/chat/room_\w+/embed\.js" async>'
                        r"</script>", snippet), snippet  # fmt: skip

    console = await pages.console(agent)
    await pages.shot(console, "agent-online")

    # the business's website carries the snippet; the client presses the chat button
    site = await (await pages.context(PHONE)).new_page()
    await site.set_content(f"<html><body><h1>Example Tax Ltd</h1>{snippet}</body></html>")
    button = site.get_by_role("button", name="Chat: Tax advice")
    await expect(button).to_be_visible()
    await pages.shot(site, "website-with-button")
    async with site.context.expect_page() as opened:
        await button.click()
    client = await opened.value
    await client.set_viewport_size(PHONE)
    await pages.contact(client, name="Ada Lovelace", email="ada.lovelace@example.com")
    await expect(client.locator("#terms")).to_contain_text("10.00 EUR for the first 5 min")
    await pages.shot(client, "terms")
    await client.click("#accept")
    await expect(client.locator("#step-card")).to_be_visible()
    await pages.card(client, "4242424242424242")
    await expect(client.locator("#step-chat")).to_be_visible()
    await expect(console.locator("#client-name")).to_have_text("Ada Lovelace")
    await expect(console.locator("#client-question")).to_contain_text("tax return")

    # messages both ways
    await client.fill("#say input", "Hello, is anyone there?")
    await client.click("#say button")
    await expect(console.locator("#messages li", has_text="anyone there")).to_be_visible()
    await console.fill("#say input", "Yes, Sam here. Send me the figures.")
    await console.click("#say button")
    await expect(client.locator("#messages li", has_text="Sam here")).to_be_visible()

    # the meter runs from the connection (no controls): both see it, and the charges
    await expect(client.locator("#meter-state")).to_have_text("running")
    await expect(console.locator("#meter-state")).to_have_text("running")
    first = await _seconds(client)
    await _eventually(lambda: _later(client, first + 2))
    await expect(client.locator("#meter-price")).to_have_text("10.00 EUR")
    await pages.shot(client, "client-chatting")
    await pages.shot(console, "agent-chatting")

    # the agent hangs up (and confirms): the client pays, sees the summary, gets the receipt
    await console.click("#hangup")
    await console.click("#confirm-hangup-yes")
    await expect(client.locator("#summary")).to_contain_text("You paid 10.00 EUR")
    await expect(console.locator("#ended")).to_contain_text("paid 10.00 EUR")
    # new revenue at once: 10.00 less the platform's 10 % and the processing fee 0.59
    await expect(console.locator("#earned")).to_have_text("8.41 EUR")
    await pages.shot(client, "client-summary")
    await pages.shot(console, "agent-revenue-at-once")

    async def receipt() -> bool:
        return any(m["To"] == "ada.lovelace@example.com" and "10.00 EUR" in m["Subject"]
                   for m in smtp.messages)  # fmt: skip

    await _eventually(receipt)
    mail = next(m for m in smtp.messages if m["To"] == "ada.lovelace@example.com")
    assert "10.00 EUR" in mail.get_payload()

    await console.goto(f"{pages.base}/console/revenue")
    await expect(console.locator("table").first).to_contain_text("8.41 EUR")
    await pages.shot(console, "agent-revenue-page")


async def _later(page: Page, seconds: int) -> bool:
    return await _seconds(page) >= seconds


async def test_the_agent_starts_pauses_and_resumes_the_meter(pages: Pages) -> None:
    agent = await pages.user()
    room = await pages.room([agent], agent_may_start=True, agent_may_pause=True)
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await expect(client.locator("#meter-state")).to_have_text("waiting for the agent")
    await expect(console.locator("#meter-pause")).to_be_hidden()
    await pages.shot(console, "waiting-for-start")

    await console.click("#meter-start")
    await expect(client.locator("#meter-state")).to_have_text("running")
    await expect(console.locator("#meter-start")).to_be_hidden()
    await _eventually(lambda: _later(client, 2))
    await pages.shot(client, "running")

    await console.click("#meter-pause")
    await expect(client.locator("#meter-state")).to_have_text("paused")
    await expect(console.locator("#meter-resume")).to_be_visible()
    held = await _seconds(client)
    await asyncio.sleep(2.5)  # a paused meter does not count, on the page or the server
    assert await _seconds(client) == held
    await pages.shot(client, "paused")
    await pages.shot(console, "paused-console")

    await console.click("#meter-resume")
    await expect(client.locator("#meter-state")).to_have_text("running")
    await _eventually(lambda: _later(client, held + 2))


async def test_a_reloaded_client_page_rejoins_the_same_chat_and_agent(pages: Pages) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await client.fill("#say input", "before the reload")
    await client.click("#say button")
    await expect(console.locator("#messages li", has_text="before the reload")).to_be_visible()
    token = await pages.client_token(client, room["id"])

    await client.reload()
    await expect(client.locator("#step-chat")).to_be_visible()
    await expect(client.locator("#messages li", has_text="before the reload")).to_be_visible()
    assert await pages.client_token(client, room["id"]) != token  # a fresh token each welcome
    await client.fill("#say input", "after the reload")
    await client.click("#say button")
    await expect(console.locator("#messages li", has_text="after the reload")).to_be_visible()
    assert await console.locator("#chat-list li").count() == 1  # the same chat, not a new one
    await expect(client.locator("#meter-state")).to_have_text("running")
    await pages.shot(client, "after-reload")
    await pages.shot(console, "after-reload-console")
    # each page at the other width: the console on a phone, the client's page on a desktop
    await console.set_viewport_size(PHONE)
    await pages.shot(console, "console-on-a-phone")
    await client.set_viewport_size(DESKTOP)
    await pages.shot(client, "client-on-a-desktop")


async def test_a_closed_client_page_goes_offline_and_is_charged_at_the_timeout(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await _eventually(lambda: _later(client, 1))
    await client.context.close()  # no goodbye: the page just vanishes

    await expect(console.locator("#peer")).to_contain_text(
        "The client is offline; the meter is stopped.")  # fmt: skip
    await expect(console.locator("#meter-state")).to_have_text("stopped (offline)")
    await pages.shot(console, "client-offline")
    # the presence timeout (6 s here, 90 s by default) ends the chat, and it is collected
    await expect(console.locator("#ended")).to_contain_text("offline too long", timeout=15_000)
    await expect(console.locator("#ended")).to_contain_text("paid 10.00 EUR")
    await pages.shot(console, "ended-at-timeout")


async def _failed_final_charge(pages: Pages) -> tuple[Page, Page, str]:
    """A chat whose card is switched to one that cannot be charged, hung up: the charge
    beyond the 5.00 hold fails."""
    agent = await pages.user()
    room = await pages.room([agent], tariff={"block_minutes": 5, "block_price": 1000,
                                             "preauth_amount": 500})  # fmt: skip
    console = await pages.console(agent, DESKTOP)
    client = await pages.connected_client(room["id"])
    async with httpx.AsyncClient(base_url=pages.base) as http:
        card = await http.post("/sandbox/tokens", json={
            "number": CHARGE_FAILS, "exp_month": 12, "exp_year": 2035, "cvc": "123"})  # fmt: skip
    changed = await pages.visit_call(client, room["id"], "/chat/api/visit/session-card",
                                     {"token": card.json()["id"]})  # fmt: skip
    assert changed.status_code == 200, changed.text
    await _eventually(lambda: _later(client, 1))
    await pages.hang_up(client)
    await expect(client.locator("#failed")).to_be_visible()
    await expect(client.locator("#failed-text")).to_contain_text("could not charge 5.00 EUR")
    await expect(console.locator("#failed-text")).to_contain_text("5.00 EUR failed")
    return client, console, room["id"]


async def test_a_card_that_cannot_be_charged_is_replaced_in_the_page_and_paid(
    pages: Pages,
) -> None:
    # at the start: the card attaches, but its hold is declined; the page asks again
    agent = await pages.user()
    room = await pages.room([agent])
    await pages.console(agent)
    first = await pages.client_page(room["id"])
    await pages.contact(first)
    await first.click("#accept")
    await pages.card(first, CHARGE_FAILS)
    await expect(first.locator("#problem")).to_be_visible()
    await expect(first.locator("#step-card")).to_be_visible()
    await pages.shot(first, "hold-declined")
    await pages.card(first, "4242424242424242")
    await expect(first.locator("#step-chat")).to_be_visible()
    await pages.hang_up(first)
    await expect(first.locator("#summary")).to_contain_text("You paid")

    # during the chat: the final charge fails; the client gives another card in the page
    client, console, _ = await _failed_final_charge(pages)
    await pages.shot(client, "charge-failed")
    await pages.shot(console, "charge-failed-console")
    await pages.card(client, "5555555555554444", form="#retry-form")
    await expect(client.locator("#summary")).to_contain_text("You paid 10.00 EUR")
    await expect(console.locator("#ended")).to_contain_text("paid 10.00 EUR")
    await pages.shot(client, "paid-with-another-card")


async def test_the_agent_hangs_up_anyway_after_a_failed_charge(pages: Pages) -> None:
    client, console, _ = await _failed_final_charge(pages)
    await console.click("#abandon")
    await expect(console.locator("#confirm-abandon")).to_contain_text(
        "The 5.00 EUR the client has not paid is recorded as abandoned debt.")  # fmt: skip
    await pages.shot(console, "hang-up-anyway-asked")
    await console.set_viewport_size(PHONE)
    await pages.shot(console, "hang-up-anyway-asked")
    await console.set_viewport_size(DESKTOP)
    await console.click("#confirm-abandon-yes")
    await expect(console.locator("#ended")).to_contain_text("5.00 EUR left unpaid")
    await expect(client.locator("#summary")).to_contain_text("You paid 5.00 EUR")
    await expect(client.locator("#summary")).to_contain_text("5.00 EUR was left unpaid")
    await pages.shot(console, "hung-up-anyway")
    await pages.shot(client, "hung-up-anyway-client")


async def test_the_pages_price_matches_the_server_for_the_design_examples(pages: Pages) -> None:
    """The page counts the charges between updates with its own copy of the formula."""
    from fareroom.pricing.tariff import make_tariff

    page = await pages.client_page("room_none")
    tariffs = [make_tariff(currency="EUR", block_minutes=5, block_price=1000, preauth_amount=1000),
               make_tariff(currency="USD", free_minutes=2, block_minutes=10, block_price=500,
                           preauth_amount=500),
               make_tariff(currency="EUR", block_minutes=7, block_price=999, preauth_amount=999,
                           increment_seconds=45)]  # fmt: skip
    for tariff in tariffs:
        for t in [0, 1, 119, 120, 121, 299, 300, 301, 330, 331, 421, 451, 721, 3600, 86_400]:
            got = await page.evaluate(
                "async ([t, tariff]) => (await import('/static/chat-common.js')).price(t, tariff)",
                [t, tariff.__dict__])  # fmt: skip
            assert got == tariff.price(t), (tariff, t)


async def test_a_payment_request_is_sent_from_the_console_and_paid_in_the_chat(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await console.click("#request-box summary")
    await console.select_option("select[name=category]", "service")
    typed = 'Tax return review <img src=x onerror="window.pwned=1">'
    await console.fill("input[name=description]", typed)
    await console.fill("input[name=unit_price]", "25.00")
    await console.click("#request-form button")
    pay = client.get_by_role("button", name="Pay 25.00 EUR")
    await expect(pay).to_be_visible()
    # what the agent typed is shown as text on both pages, never run as HTML
    for page in (client, console):
        await expect(page.locator("#requests")).to_contain_text(typed)
        assert await page.evaluate("window.pwned") is None
    await pages.shot(client, "request-received")
    await pay.click()
    await client.get_by_role("button", name="Confirm payment").click()
    await expect(client.locator("#requests .status")).to_have_text("paid")
    # the service request: 25.00 less 10 % (2.50) and the processing fee (1.03), at once
    await expect(console.locator("#earned")).to_have_text("21.47 EUR")
    await console.click("text=Service starts now")
    await console.click("text=Service finished")
    await expect(console.locator("#requests")).to_contain_text("Service delivered.")
    await pages.shot(console, "request-paid-and-delivered")
