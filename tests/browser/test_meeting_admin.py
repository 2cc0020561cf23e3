"""The dashboard's meeting pages in Chromium, on a phone and at desktop width: an owner makes
a weekly room (a typo refused first, with what was typed kept), edits it, sends the
invitations (they arrive over SMTP) and reads the audit trail of a guest's visit; an agent
sees only the rooms they host and cannot open another host's."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import connect

from tests.browser.conftest import DESKTOP, PHONE, Pages
from tests.support.smtp import SmtpInbox


async def _on_screen(page: Page, selector: str) -> None:
    """Every element ``selector`` finds fits the width, and so does the page: nothing needs
    a sideways scroll."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    wide = await page.evaluate("""(w) => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > w)
        .map((e) => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)""",
                               width)  # fmt: skip
    assert wide == [], (page.url, wide)
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    boxes = [await found.bounding_box() for found in await page.locator(selector).all()]
    assert boxes, selector
    for box in boxes:
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (
            selector, box)  # fmt: skip


async def _guest_visits(pages: Pages, code: str, name: str) -> None:
    """A guest joins the room's meeting over its socket (docs/meetings.md) and leaves."""
    async with httpx.AsyncClient(base_url=pages.base) as http:
        await http.get(f"/m/{code}")  # the device cookie
        r = await http.post(f"/m/{code}/join", json={"name": name, "password": "tulip 42"})
        assert r.status_code == 200, r.text
        jar = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        async with connect(f"ws://{pages.server.url}/ws/meeting", open_timeout=5,
                           additional_headers={"Cookie": jar}) as ws:  # fmt: skip
            await ws.send(json.dumps({"type": "hello", "ticket": r.json()["ticket"]}))
            async with asyncio.timeout(5):
                while json.loads(await ws.recv())["type"] != "roster":
                    pass
            await ws.send(json.dumps({"type": "leave"}))
            with_close = asyncio.timeout(5)
            async with with_close:
                async for _ in ws:
                    pass


async def _fill_room(page: Page, host: str, colleague: str, contact: str) -> None:
    await page.get_by_label("Topic").fill("Quarterly review")
    await page.get_by_label("Notes").fill("Bring the numbers.")
    await page.locator("select[name=host_id]").select_option(label=f"{host} (agent)")
    await page.get_by_label("Start date").fill("2027-01-04")
    await page.get_by_label("Start time").fill("09:00")
    await page.get_by_label("Duration (minutes)").fill("1,000")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_label("Repeats").select_option("weekly")
    await page.locator("input[name=days][value=MO]").check()
    await page.locator("input[name=days][value=TH]").check()
    await page.locator("input[name=end][value=count]").check()
    await page.get_by_label("Number of meetings").fill("6")
    await page.locator("#room-form input[name=password]").fill("tulip 42")
    await page.locator("label.check", has_text=colleague).locator("input[name=users]").check()
    await page.locator("label.check", has_text=contact).locator("input[name=contacts]").check()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_an_owner_creates_edits_invites_and_reads_the_audit_trail(
    pages: Pages, smtp: SmtpInbox, viewport: dict[str, int]
) -> None:
    sam = await pages.user("agent", "Sam")
    await pages.user("agent", "Carl")
    client = await pages.t.client("Chloe", number=None)
    page = await pages.sign_in(pages.t.owner_email, pages.t.password, viewport=viewport)
    await page.click("#nav-meetings")
    await expect(page).to_have_url(re.compile(r"/dashboard/meetings$"))
    await expect(page.locator("table.meetings")).to_contain_text("No meeting rooms yet")
    await page.click("#new-room")
    await _fill_room(page, "Sam", "Carl", "Chloe")
    await _on_screen(page, "#room-form fieldset")
    await pages.shot(page, "new-room-filled")
    await page.click("#save-room")
    await expect(page.get_by_role("alert")).to_contain_text(
        "Duration (minutes): Write a whole number of minutes with the digits 0-9.")  # fmt: skip
    await expect(page.get_by_label("Topic")).to_have_value("Quarterly review")
    await expect(page.get_by_label("Number of meetings")).to_have_value("6")
    await expect(page.locator("#password-again")).to_be_visible()
    await pages.shot(page, "typo-refused")
    await page.get_by_label("Duration (minutes)").fill("45")
    await page.locator("#room-form input[name=password]").fill("tulip 42")
    await page.click("#save-room")
    await expect(page.locator(".notice")).to_have_text("The meeting room was created.")
    await expect(page.locator("#next-start")).to_have_text(
        "Monday 2027-01-04 09:00 (Europe/Berlin), 45 minutes")  # fmt: skip
    await pages.shot(page, "created")
    [room] = (await pages.t.api.get("/api/v1/meeting-rooms")).json()["data"]
    assert room["schedule"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=6"
    assert (room["host_id"], room["has_password"]) == (sam["id"], True)

    await page.get_by_label("Topic").fill("Quarterly review (Q1)")
    await page.get_by_label("Participants may join before the host").check()
    await page.click("#save-room")
    await expect(page.locator(".notice")).to_have_text("The meeting room was saved.")
    await expect(page.locator("#room-facts h2")).to_have_text("Quarterly review (Q1)")
    await expect(page.get_by_label("Start time")).to_have_value("09:00")

    before = len(smtp.messages)
    await page.click("#send-invitations")
    await expect(page.locator(".notice")).to_have_text(
        "2 invitations queued: the mail goes out shortly.")  # fmt: skip
    async with asyncio.timeout(20):
        while len(smtp.messages) < before + 2:  # noqa: ASYNC110 (the worker sends them)
            await asyncio.sleep(0.2)
    sent = {m["To"] for m in smtp.messages[before:]}
    assert client["email"] in sent and any(t.startswith("carl") for t in sent)

    await _guest_visits(pages, room["code"], "Gus Guest")
    await page.reload()
    rows = page.locator("#audit tbody tr")
    await expect(rows.first.locator("td[data-label=Action]")).to_contain_text("left")
    await expect(rows.nth(1).locator("td[data-label=Action]")).to_contain_text("joined")
    await expect(rows.first.locator("td[data-label=Who]")).to_have_text("Gus Guest")
    await page.locator("#audit").scroll_into_view_if_needed()
    await pages.shot(page, "audit")
    await _on_screen(page, "#audit td")
    await _on_screen(page, "#room-form")

    await page.click("text=← Meeting rooms")
    row = page.locator(f"tr[id='{room['id']}']")
    await expect(row.locator("td[data-label=Kind]")).to_contain_text(
        "scheduled: Mon 2027-01-04 09:00 Europe/Berlin (repeats)")  # fmt: skip
    await expect(row.locator("td[data-label=Host]")).to_have_text("Sam")
    await expect(row.locator("td[data-label=Status]")).to_contain_text("idle")
    await _on_screen(page, f"tr[id='{room['id']}'] td")
    await pages.shot(page, "list")


async def test_an_agent_sees_their_own_rooms_and_cannot_edit_another_hosts(pages: Pages) -> None:
    sam = await pages.user("agent", "Sam")
    kim = await pages.user("agent", "Kim")
    kims = (await pages.t.api.post("/api/v1/meeting-rooms", json={
        "host_id": kim["id"], "topic": "Kim's clinic"})).json()  # fmt: skip
    page = await pages.sign_in(sam["email"], viewport=PHONE)
    await page.click("#nav-meetings")
    await expect(page.locator("table.meetings")).to_contain_text("No meeting rooms yet")
    await page.click("#new-room")
    await expect(page.locator("select[name=host_id] option")).to_have_count(1)
    await page.get_by_label("Topic").fill("Sam's surgery")
    await page.locator("input[name=kind][value=persistent]").check()
    await page.click("#save-room")
    await expect(page.locator(".notice")).to_have_text("The meeting room was created.")
    await page.click("text=← Meeting rooms")
    await expect(page.locator("table.meetings tbody tr")).to_have_count(1)
    await expect(page.locator("table.meetings")).to_contain_text("Sam's surgery")
    await expect(page.locator("table.meetings")).not_to_contain_text("Kim's clinic")
    await _on_screen(page, "table.meetings td")
    await pages.shot(page, "agents-list")
    response = await page.goto(f"{pages.base}/dashboard/meetings/{kims['id']}")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("hosted by someone else")
    await pages.shot(page, "another-hosts-room")
    after = (await pages.t.api.get(f"/api/v1/meeting-rooms/{kims['id']}")).json()
    assert after["topic"] == "Kim's clinic"


async def test_an_owner_keeps_groups_dial_ins_and_encryption_on_a_phone(pages: Pages) -> None:
    await pages.user("agent", "Sam")
    await pages.t.client("Chloe", number=None)
    page = await pages.sign_in(pages.t.owner_email, pages.t.password, viewport=PHONE)
    await page.goto(f"{pages.base}/dashboard/meetings")
    await page.click("text=Groups")
    await page.get_by_label("Name").fill("Advisory board")
    await page.locator("label.check", has_text="Sam").locator("input").check()
    await page.locator("label.check", has_text="Chloe").locator("input").check()
    await page.click("#save-group")
    await expect(page.locator(".notice")).to_have_text("The group was created.")
    await expect(page.locator("#groups td[data-label=Members]")).to_have_text("Chloe, Sam")
    await _on_screen(page, "#groups td")
    await pages.shot(page, "groups")

    await page.click("text=← Meeting rooms")
    await page.click("text=Company name and dial-in numbers")
    await page.get_by_label("Company name").fill("Hana & Co")
    await page.locator("input[name=country]").first.fill("de")
    await page.locator("input[name=number]").first.fill("+49 30 1234567")
    await page.locator("input[name=pin_format]").first.fill("PIN, then #")
    await page.click("text=Add a row")
    await expect(page.locator("input[name=country]")).to_have_count(4)
    await page.locator("input[name=number]").nth(1).fill("0800 call us")
    await page.locator("input[name=country]").nth(1).fill("AT")
    await page.click("#save-settings")
    await expect(page.get_by_role("alert")).to_contain_text("dial-in number '0800 call us'")
    await expect(page.locator("input[name=number]").first).to_have_value("+49 30 1234567")
    await pages.shot(page, "dial-in-refused")
    await page.locator("input[name=number]").nth(1).fill("+43 1 234567")
    await page.click("#save-settings")
    await expect(page.locator(".notice")).to_have_text("The meeting settings were saved.")
    await _on_screen(page, "table.dial-ins td")
    await pages.shot(page, "settings")
    saved = (await pages.t.api.get("/api/v1/meeting-settings")).json()
    assert [d["country"] for d in saved["dial_ins"]] == ["DE", "AT"]

    await page.click("text=← Meeting rooms")
    await page.click("#e2ee-toggle")
    await expect(page.locator(".notice")).to_have_text(
        "Your meetings are end-to-end encrypted from now on.")  # fmt: skip
    await expect(page.locator("#e2ee-toggle")).to_have_text("Turn encryption off")
    await pages.shot(page, "encrypted")
    await page.click("#join-meeting-room")
    await expect(page.locator("#personal")).to_have_attribute("data-encrypted", "true")
    await expect(page.locator("#e2ee")).to_contain_text("the server never sees the key")
    await pages.shot(page, "personal-room")
