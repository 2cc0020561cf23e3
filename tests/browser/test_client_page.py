"""The client's chat page in a real browser (phone width) beside the agent's console and the
owner's room page (desktop): no agent available, a lost connection, the end screen, paying
and hanging up with a confirmation, a second tab."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser.conftest import TIMINGS, Pages
from tests.browser.test_live_chat import _eventually, _later, _seconds
from tests.support.servers import FareroomServer
from tests.support.smtp import SmtpInbox


@pytest.fixture(scope="module")
def server(database_url: str, smtp: SmtpInbox) -> Iterator[FareroomServer]:
    """As the suite's, but a chat ends only after 30 s away: a lost connection here lasts
    its reconnecting back-off, longer than the 6 s of the other browser tests."""
    running = FareroomServer({"FAREROOM_DATABASE_URL": database_url,
                              "FAREROOM_SECRET_KEY": "test-secret",
                              "FAREROOM_SMTP_HOST": "127.0.0.1",
                              "FAREROOM_SMTP_PORT": str(smtp.port),
                              **TIMINGS, "FAREROOM_PRESENCE_TIMEOUT_SECONDS": "30",
                              "FAREROOM_QUEUE_NOBODY_SECONDS": "5"})  # fmt: skip
    yield running
    err = running.stop()
    assert "Traceback" not in err, err


async def test_with_no_agent_online_the_client_leaves_an_email_the_owner_then_sees(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent], away_message="We answer from 9 to 5. Back tomorrow!")
    client = await pages.client_page(room["id"])
    await expect(client.locator("#step-away")).to_be_visible()
    await expect(client.locator("#away-message")).to_have_text(
        "We answer from 9 to 5. Back tomorrow!")  # fmt: skip
    await expect(client.locator("#step-contact")).to_be_hidden()
    await expect(client.locator("#step-card")).to_be_hidden()
    await pages.shot(client, "away")
    await client.fill("#lead input[name=name]", "Ada Lovelace")
    await client.fill("#lead input[name=email]", "ada@example.com")
    await client.fill("#lead textarea[name=message]", "Please call me about my tax return.")
    await client.click("#lead button")
    await expect(client.locator("#lead-sent")).to_contain_text("ada@example.com")
    await pages.shot(client, "email-left")

    owner = await pages.sign_in(pages.t.owner_email, pages.t.password)
    await owner.goto(f"{pages.base}/dashboard/rooms/{room['id']}")
    await expect(owner.locator("#agents-warning")).to_contain_text("None of this room's agents")
    await expect(owner.locator("#leads")).to_contain_text("Please call me about my tax return.")
    await expect(owner.locator("#leads")).to_contain_text("ada@example.com")
    await pages.shot(owner, "owner-warned-and-lead")

    # an agent comes online after the page was opened: the contact form goes through
    await pages.console(agent)
    late = await pages.client_page(room["id"])
    await pages.contact(late)
    await late.click("#accept")
    await pages.card(late, "4242424242424242")
    await expect(late.locator("#step-chat")).to_be_visible()


async def test_the_last_agent_leaving_before_the_card_means_no_hold_and_the_away_step(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.client_page(room["id"])
    await pages.contact(client)
    await client.click("#accept")
    await console.click("button[data-status=offline]")
    await expect(console.locator("button[data-status=offline]")).to_have_attribute(
        "aria-pressed", "true")  # fmt: skip
    await pages.card(client, "4242424242424242")
    await expect(client.locator("#step-away")).to_be_visible()
    await pages.shot(client, "away-instead-of-hold")
    payments = await pages.t.api.get("/api/v1/payments")
    assert payments.json()["data"] == []


async def test_a_waiting_client_is_told_nobody_is_online_then_released_to_the_away_step(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    await pages.connected_client(room["id"])  # the agent is busy: the next client waits
    client = await pages.client_page(room["id"])
    await pages.contact(client, name="Bea")
    await client.click("#accept")
    await pages.card(client, "4242424242424242")
    await expect(client.locator("#step-waiting")).to_be_visible()
    await expect(client.locator("#nobody")).to_be_hidden()

    await console.click("button[data-status=offline]")  # the room's last agent goes
    await expect(client.locator("#nobody")).to_be_visible()
    await expect(client.locator("#nobody")).to_contain_text("No agent is online right now")
    await expect(client.locator("#nobody-release")).to_contain_text("release the hold")
    await pages.shot(client, "waiting-nobody-online")

    # nobody comes back within FAREROOM_QUEUE_NOBODY_SECONDS: the hold is released
    await expect(client.locator("#step-away")).to_be_visible(timeout=15_000)
    await expect(client.locator("#away-message")).to_contain_text("released the hold")
    await expect(client.locator("#lead")).to_be_visible()
    await pages.shot(client, "released-to-away")
    statuses = [p["status"] for p in (await pages.t.api.get("/api/v1/payments")).json()["data"]]
    assert "canceled" in statuses  # the waiting client's hold


class Link:
    """The client page's socket through a link the test can cut (nothing passes either way,
    and the socket does not close, like a network gone quiet) and mend."""

    def __init__(self) -> None:
        self.cut = False

    async def route(self, ws: WebSocketRoute) -> None:
        if self.cut:  # no way through while cut: the page's attempts fail
            await ws.close()
            return
        server = ws.connect_to_server()
        ws.on_message(lambda m: None if self.cut else server.send(m))
        server.on_message(lambda m: None if self.cut else ws.send(m))


async def test_a_lost_connection_shows_reconnecting_stops_the_meter_and_keeps_messages(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    link = Link()
    client = await (await pages.context(viewport={"width": 390, "height": 800})).new_page()
    await client.route_web_socket(re.compile(r"/ws/client$"), link.route)
    await client.goto(f"{pages.base}/chat/{room['id']}")
    await pages.contact(client)
    await client.click("#accept")
    await pages.card(client, "4242424242424242")
    await expect(client.locator("#step-chat")).to_be_visible()
    await _eventually(lambda: _later(client, 2))

    link.cut = True
    await expect(client.locator("#connection")).to_be_visible()
    await expect(client.locator("#connection")).to_have_text("Reconnecting…")
    frozen = await _seconds(client)
    await client.fill("#say input", "typed while offline")
    await client.click("#say button")
    pending = client.locator("#messages li.pending", has_text="typed while offline")
    await expect(pending).to_contain_text("not sent yet")
    await pages.shot(client, "reconnecting")
    await asyncio.sleep(2)  # the page's meter stands still while it cannot hear the server
    assert await _seconds(client) == frozen
    await expect(console.locator("#messages li", has_text="typed while offline")).to_have_count(0)

    link.cut = False
    await expect(client.locator("#connection")).to_be_hidden(timeout=15_000)
    await expect(console.locator("#messages li", has_text="typed while offline")).to_be_visible(
        timeout=15_000)  # fmt: skip
    await expect(client.locator("#messages li.pending")).to_have_count(0)
    await expect(client.locator("#messages li", has_text="typed while offline")).to_have_count(1)
    await expect(client.locator("#meter-state")).to_have_text("running")
    await pages.shot(client, "reconnected")
    await pages.shot(console, "reconnected-console")


async def _chatting(pages: Pages) -> tuple[Page, Page, dict]:
    """A client's page (phone) in a chat with an agent's console (desktop)."""
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    return await pages.connected_client(room["id"]), console, room


async def _chat_with_a_request(pages: Pages) -> tuple[Page, Page, dict]:
    client, console, room = await _chatting(pages)
    await console.click("#request-box summary")
    await console.select_option("select[name=category]", "goods")
    await console.fill("input[name=description]", "Workbook")
    await console.fill("input[name=unit_price]", "12.00")
    await console.click("#request-form button")
    return client, console, room


async def test_pay_names_the_card_and_asks_to_confirm_and_so_does_hanging_up(
    pages: Pages,
) -> None:
    client, console, _ = await _chat_with_a_request(pages)
    pay = client.get_by_role("button", name="Pay 12.00 EUR with Visa •••• 4242")
    await expect(pay).to_be_visible()
    await pay.click()  # one click pays nothing: it asks first
    await expect(client.locator("#requests")).to_contain_text("Charge 12.00 EUR to Visa •••• 4242?")
    await pages.shot(client, "confirm-payment")
    await client.get_by_role("button", name="Cancel").click()
    await expect(client.locator("#requests .status")).to_have_text("open")
    await pay.click()
    await client.get_by_role("button", name="Confirm payment").click()
    await expect(client.locator("#requests .status")).to_have_text("paid")

    await client.click("#hangup")
    await expect(client.locator("#hangup-confirm")).to_contain_text("End the chat?")
    await pages.shot(client, "confirm-hang-up")
    await client.click("#hangup-no")
    await expect(client.locator("#hangup")).to_be_visible()
    await expect(console.locator("#meter-state")).to_have_text("running")  # still chatting
    await pages.hang_up(client)
    await expect(client.locator("#step-summary")).to_be_visible()


async def test_the_end_screen_lists_what_was_paid_shows_the_transcript_and_starts_anew(
    pages: Pages,
) -> None:
    client, console, room = await _chat_with_a_request(pages)
    await console.fill("#say input", "Here is your workbook.")
    await console.click("#say button")
    await expect(client.locator("#messages li", has_text="your workbook")).to_be_visible()
    await client.get_by_role("button", name=re.compile("^Pay 12.00 EUR")).click()
    await client.get_by_role("button", name="Confirm payment").click()
    await expect(client.locator("#requests .status")).to_have_text("paid")
    await _eventually(lambda: _later(client, 1))  # a second of chat: the minimum charge
    await pages.hang_up(client)

    await expect(client.locator("#summary")).to_contain_text("You paid 22.00 EUR")
    lines = client.locator("#summary-lines tbody tr")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("10.00 EUR")
    await expect(lines.nth(1)).to_contain_text("1 × Workbook")
    await expect(client.locator("#summary-total")).to_have_text("22.00 EUR")
    transcript = client.locator("#transcript li")
    await expect(transcript).to_have_count(2)
    await expect(transcript.nth(0)).to_contain_text("You")
    await expect(transcript.nth(0)).to_contain_text("tax return")
    await expect(transcript.nth(1)).to_contain_text("Agent")
    await expect(transcript.nth(1)).to_contain_text("Here is your workbook.")
    await expect(transcript.nth(1).locator("time")).to_have_text(re.compile(r"\d{1,2}:\d{2}"))
    await pages.shot(client, "end-screen")

    first = await pages.client_token(client, room["id"])
    await client.click("#new-chat")
    await expect(client.locator("#step-contact")).to_be_visible()
    await pages.contact(client)
    assert (await pages.client_token(client, room["id"])).split(".")[0] != first.split(".")[0]
    await pages.shot(client, "new-chat")


async def test_a_second_tab_rejoins_the_open_chat_instead_of_starting_another(
    pages: Pages,
) -> None:
    client, console, room = await _chatting(pages)
    await client.fill("#say input", "from the first tab")
    await client.click("#say button")
    await expect(console.locator("#messages li", has_text="first tab")).to_be_visible()

    second = await client.context.new_page()
    await second.goto(f"{pages.base}/chat/{room['id']}")
    await expect(second.locator("#step-chat")).to_be_visible()
    await expect(second.locator("#messages li", has_text="from the first tab")).to_be_visible()
    await expect(client.locator("#step-elsewhere")).to_be_visible()
    await pages.shot(client, "first-tab-elsewhere")
    assert await console.locator("#chat-list li").count() == 1  # no second chat, no second hold
    payments = (await pages.t.api.get("/api/v1/payments")).json()["data"]
    assert len(payments) == 1

    await client.click("#take-over")  # back to the first tab
    await expect(client.locator("#step-chat")).to_be_visible()
    await expect(second.locator("#step-elsewhere")).to_be_visible()


async def test_the_browser_going_offline_shows_reconnecting_at_once_and_online_reconnects(
    pages: Pages,
) -> None:
    agent = await pages.user()
    room = await pages.room([agent])
    console = await pages.console(agent)
    client = await pages.connected_client(room["id"])
    await client.evaluate("""() => { window.lostAt = null;
        new MutationObserver(() => { if (!document.getElementById("connection").hidden
            && window.lostAt === null) window.lostAt = Date.now(); })
          .observe(document.getElementById("connection"), { attributes: true }); }""")
    went = await client.evaluate("Date.now()")
    await client.context.set_offline(True)
    # told at once by the browser: well before 2.5 heartbeats (2.5 s here) go unanswered
    lost_at = await client.wait_for_function("window.lostAt", timeout=5_000)
    assert await lost_at.json_value() - went < 1_000
    await client.context.set_offline(False)
    await expect(client.locator("#connection")).to_be_hidden(timeout=5_000)
    await client.fill("#say input", "back online")
    await client.click("#say button")
    await expect(console.locator("#messages li", has_text="back online")).to_be_visible()
