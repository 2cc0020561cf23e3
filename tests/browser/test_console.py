"""The agent console in a real browser: a tab replaced by a newer one, the client's
presence before the meter starts, the clients waiting, payment-request errors by the form,
hanging up after a confirmation, and one receipt per chat over SMTP."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import func, select

from fareroom.models.mail import OutboxMail
from tests.browser.conftest import PHONE, Pages
from tests.browser.test_live_chat import _eventually, _later, _seconds
from tests.support.smtp import SmtpInbox


async def _both_widths(pages: Pages, page: Page, step: str) -> None:
    """Screenshots of the console at desktop and phone width."""
    desktop = page.viewport_size
    await pages.shot(page, step)
    await page.set_viewport_size(PHONE)
    await pages.shot(page, step)
    if desktop:
        await page.set_viewport_size(desktop)


async def _chatting(pages: Pages, **room: object) -> tuple[Page, Page, dict[str, Any]]:
    """An agent's console and a client in a chat with them, in a room of ``room``; the
    room as made, with the agent."""
    agent = await pages.user()
    made = await pages.room([agent], **room)
    console = await pages.console(agent)
    return console, await pages.connected_client(made["id"]), {**made, "agent": agent}


async def test_a_console_replaced_by_a_newer_tab_is_plainly_inactive_until_used_here(
    pages: Pages,
) -> None:
    first, _, _ = await _chatting(pages)
    await expect(first.locator("#meter-state")).to_have_text("running")

    second = await first.context.new_page()  # the same agent opens the console again
    await second.goto(f"{pages.base}/console")
    await expect(second.locator("#link")).to_contain_text("Signed in as")
    await expect(first.locator("#replaced")).to_be_visible()
    await expect(first.locator("#replaced")).to_contain_text(
        "This console is open in another tab")  # fmt: skip
    enabled = await first.evaluate("""
        [...document.querySelectorAll('#console button, #console input, #console select')]
        .filter((el) => !el.disabled && el.id !== 'use-here').map((el) => el.id || el.name)""")
    assert enabled == []  # every action, the meter's and hang-up included, is disabled
    await expect(first.locator("#hangup")).to_be_disabled()
    # the meter is frozen in the old tab while it runs on in the new one
    frozen = await _seconds(first)
    await _eventually(lambda: _later(second, frozen + 3))
    assert await _seconds(first) == frozen
    # and the old tab did not reconnect (which would have made the new one inactive)
    await expect(second.locator("#replaced")).to_be_hidden()
    await expect(second.locator("#hangup")).to_be_enabled()
    await _both_widths(pages, first, "replaced-by-another-tab")

    await first.click("#use-here")
    await expect(first.locator("#replaced")).to_be_hidden()
    await expect(first.locator("#hangup")).to_be_enabled()
    await expect(first.locator("#link")).to_contain_text("Signed in as")
    await expect(second.locator("#replaced")).to_be_visible()
    await pages.shot(first, "used-here-again")


async def test_the_agent_sees_the_client_go_offline_before_the_meter_starts(
    pages: Pages,
) -> None:
    console, client, _ = await _chatting(pages, agent_may_start=True)
    await expect(console.locator("#meter-state")).to_have_text("waiting for the agent")
    await expect(console.locator("#peer")).to_have_text("The client is online.")
    await client.context.close()  # the client goes before the agent started the meter

    peer = console.locator("#peer")
    await expect(peer).to_contain_text("The client is offline. Offline for ")
    await expect(peer).to_contain_text("the chat ends in ")
    await expect(console.locator("#meter-state")).to_have_text("waiting for the agent")
    await _both_widths(pages, console, "client-offline-before-the-start")
    # the presence timeout (6 s here) ends the chat; the meter never ran: nothing is due
    await expect(console.locator("#ended")).to_have_text(
        "Ended: a party was offline too long — nothing to pay.", timeout=15_000)  # fmt: skip
    await expect(console.locator("#chat-list li .status")).to_have_text("nothing to pay")
    await _both_widths(pages, console, "ended-nothing-to-pay")


async def test_a_busy_agent_sees_how_many_clients_wait(pages: Pages) -> None:
    console, _, room = await _chatting(pages)
    await expect(console.locator("#waiting")).to_have_text("nobody")
    second = await pages.client_page(room["id"])
    await pages.contact(second, name="Bea")
    await second.click("#accept")
    await pages.card(second, "4242424242424242")
    await expect(console.locator("#waiting")).to_have_text("1 client")
    await _both_widths(pages, console, "busy-with-one-waiting")

    await console.click("#hangup")
    await console.click("#confirm-hangup-yes")
    await expect(second.locator("#step-chat")).to_be_visible()
    await expect(console.locator("#waiting")).to_have_text("nobody")


async def test_a_refused_payment_request_is_shown_by_the_form_which_keeps_its_lines(
    pages: Pages,
) -> None:
    console, client, _ = await _chatting(pages)
    for n in range(8):  # a long chat: the form is far below the top of the page
        await console.fill("#say input", f"message {n}: " + "a longer line of chat " * 8)
        await console.click("#say button")
    await console.click("#request-box summary")
    await console.fill("input[name=description]", "Tax return review")
    await console.fill("input[name=quantity]", "1")
    await console.fill("input[name=unit_price]", "0")  # the server refuses a zero price
    await console.click("#request-send")

    problem = console.locator("#request-problem")
    await expect(problem).to_contain_text("Line 1: the price each must be above zero")
    await expect(problem).to_have_attribute("role", "alert")
    await expect(problem).to_be_focused()
    await expect(problem).to_be_in_viewport()
    await expect(console.locator("input[name=description]")).to_have_value("Tax return review")
    await expect(console.locator("input[name=unit_price]")).to_have_value("0")
    await expect(console.locator("#request-send")).to_be_enabled()
    await expect(console.locator("#problem")).to_be_hidden()
    await _both_widths(pages, console, "request-refused")

    await console.fill("input[name=unit_price]", "25.00")
    await console.click("#request-send")
    await expect(client.get_by_role("button", name="Pay 25.00 EUR")).to_be_visible()
    await expect(problem).to_be_hidden()
    await expect(console.locator("input[name=description]")).to_have_value("")


async def test_hanging_up_asks_first_with_what_the_client_is_charged(pages: Pages) -> None:
    console, client, _ = await _chatting(pages)
    await _eventually(lambda: _later(console, 1))
    await console.click("#hangup")
    ask = console.locator("#confirm-hangup")
    await expect(ask).to_contain_text("End the chat and charge the client 10.00 EUR?")
    await expect(console.locator("#confirm-hangup-no")).to_be_focused()
    await _both_widths(pages, console, "hang-up-asked")
    await console.click("#confirm-hangup-no")  # one click alone ends nothing
    await expect(ask).to_be_hidden()
    await expect(client.locator("#meter-state")).to_have_text("running")

    await console.click("#hangup")
    await console.click("#confirm-hangup-yes")
    await expect(console.locator("#ended")).to_contain_text("paid 10.00 EUR")
    await expect(client.locator("#summary")).to_contain_text("You paid 10.00 EUR")


async def test_a_chat_with_a_split_collection_sends_one_receipt_over_smtp(
    pages: Pages, smtp: SmtpInbox
) -> None:
    console, client, room = await _chatting(pages, tariff={
        "block_minutes": 5, "block_price": 1000, "preauth_amount": 2000,
        "split_threshold": 1000})  # fmt: skip
    agent = room["agent"]
    # 10.00 is due from the first second: the next meter tick collects 9.50 of it (the
    # worker's tick, every 2 s here: on a loaded machine some seconds later)
    await expect(console.locator("#meter-paid")).to_have_text("9.50 EUR", timeout=15_000)
    await console.click("#hangup")
    await console.click("#confirm-hangup-yes")
    await expect(client.locator("#summary")).to_contain_text("You paid 10.00 EUR")

    sender = f"{pages.t.business.name} via Fareroom"

    def mine(to: str) -> list:
        return [m for m in smtp.messages if m["To"] == to and sender in m["From"]]

    async def all_sent() -> bool:
        async with pages.ctx.unit_of_work() as s:
            unsent = await s.session.scalar(select(func.count()).where(
                OutboxMail.business_id == pages.t.id, OutboxMail.sent_at.is_(None)))  # fmt: skip
        return unsent == 0 and len(mine(agent["email"])) > 0

    await _eventually(all_sent, within=20)
    [receipt] = mine("ada@example.com")
    assert receipt["Subject"] == f"Your receipt from {pages.t.business.name}: 10.00 EUR"
    text = receipt.get_payload(decode=True).decode()
    assert "9.50 EUR, Visa •••• 4242" in text and "0.50 EUR, Visa •••• 4242" in text
    assert "Chat: Advice, with Sam" in text and "cs_" not in text and "pay_" not in text
    assert len(mine(agent["email"])) == 1
